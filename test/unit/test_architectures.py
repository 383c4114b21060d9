"""The contract every registered architecture meets, parametrised over the registry."""
import dataclasses
import math

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from conftest import make_observation
from sensor_fusion.architectures import ARCHITECTURES, build_architecture, load_config
from sensor_fusion.architectures.control_pathways import PATHWAY_PREFIXES
from sensor_fusion.architectures.layers import linear_macs
from sensor_fusion.observation import EVENT_DTYPE, MODALITIES
from sensor_fusion.preprocess import Preprocessor, collate
from sensor_fusion.weights import WeightsError, load_control_pathways, load_weights, save_weights

KEYS = ARCHITECTURES.keys()


def build(key, seed=0, **overrides):
    torch.manual_seed(seed)
    return build_architecture(key, load_config(key, overrides=overrides or None))


#: The control pathways switched off (the shipped NVSF-A and NVSF-H configs carry them).
NO_PATHWAYS = {'reflex_pathway': False, 'freeze_pathway': False, 'descent_pathway': False}


def yaml_preprocess(key):
    """The preprocessing section of config/architectures/<key>.yaml, as a dict for build's overrides."""
    return dataclasses.asdict(load_config(key).preprocess)


def batch_for(model, seeds=(0, 1, 2), **overrides):
    pre = Preprocessor(model.config.preprocess)
    return collate([pre(make_observation(seed, n_events=2000, **overrides)) for seed in seeds])


def test_registry_knows_the_three_launch_keys():
    assert KEYS == ['nvsf_a', 'nvsf_c', 'nvsf_h']
    with pytest.raises(KeyError, match="unknown architecture 'nvsf_x'; known: nvsf_a, nvsf_c, nvsf_h"):
        build_architecture('nvsf_x')


@pytest.mark.parametrize('key', KEYS)
def test_action_shape_and_range(key):
    model = build(key).eval()
    inputs = batch_for(model)
    out = model(inputs, model.initial_state(3))
    assert out.action.shape == (3, model.config.action_dim)
    assert torch.isfinite(out.action).all() and out.action.abs().max() <= 1.0
    assert out.cost.dense_macs > 0


@pytest.mark.parametrize('key', KEYS)
def test_action_is_the_shaped_head_output_and_unshaping_inverts_it(key):
    model = build(key, action_power=3.0).eval()
    out = model(batch_for(model), model.initial_state(3))
    assert torch.allclose(out.action, out.head_output.sign() * out.head_output.abs() ** 3)
    assert torch.allclose(model.unshape_action(out.action), out.head_output, atol=1e-5)
    # Fine control near zero: a head output of 0.4 commands 0.064 of full speed, and full stays full.
    assert model.shape_action(torch.tensor([-1.0, -0.4, 0.0, 0.4, 1.0])).tolist() == pytest.approx(
        [-1.0, -0.064, 0.0, 0.064, 1.0])
    linear = build(key, action_power=1.0).eval()
    out = linear(batch_for(linear), linear.initial_state(3))
    assert torch.equal(out.action, out.head_output)


@pytest.mark.parametrize('key', KEYS)
@pytest.mark.parametrize('masked', [(m,) for m in MODALITIES] + [tuple(MODALITIES)])
def test_masked_modalities_still_give_an_action_independent_of_their_data(key, masked):
    model = build(key).eval()
    inputs = batch_for(model, seeds=(0,))
    mask = inputs.mask.clone()
    for m in masked:
        mask[:, MODALITIES.index(m)] = False
    masked_inputs = inputs.with_mask(mask)
    # Garbage in the masked modalities must not change the action: the mask really removes them.
    noisy = batch_for(model, seeds=(0,))
    for m in masked:
        field = {'camera': 'image', 'proprio': 'proprio', 'events': 'events', 'audio': 'audio',
                 'tactile': 'tactile', 'wrench': 'wrench'}[m]
        getattr(noisy, field).normal_(0, 5)
        if m == 'wrench':
            noisy.contact.normal_(0, 5)
    state = model.initial_state(1)
    a = model(masked_inputs, state).action
    b = model(noisy.with_mask(mask), state).action
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize('key', KEYS)
def test_zero_events_are_fine(key):
    import numpy as np
    model = build(key).eval()
    inputs = batch_for(model, seeds=(0,), events=np.empty(0, EVENT_DTYPE))
    assert inputs.events.abs().sum() == 0 and inputs.mask[0, MODALITIES.index('events')]
    assert torch.isfinite(model(inputs, model.initial_state(1)).action).all()


@pytest.mark.parametrize('key', KEYS)
def test_state_carries_memory_and_reset_forgets_it(key):
    model = build(key).eval()
    first, second = batch_for(model, seeds=(0,)), batch_for(model, seeds=(1,))
    fresh = model.initial_state(1)
    after_first = model(first, fresh).state
    with_memory = model(second, after_first).action
    without_memory = model(second, fresh).action
    assert not torch.allclose(with_memory, without_memory), 'the state must influence the next action'
    torch.testing.assert_close(model(second, model.initial_state(1)).action, without_memory)


@pytest.mark.parametrize('key', KEYS)
def test_deterministic_under_a_seed(key):
    a, b = build(key, seed=7).eval(), build(key, seed=7).eval()
    inputs = batch_for(a)
    torch.testing.assert_close(a(inputs, a.initial_state(3)).action, b(inputs, b.initial_state(3)).action)
    c = build(key, seed=8).eval()
    assert not torch.allclose(a(inputs, a.initial_state(3)).action, c(inputs, c.initial_state(3)).action)


@pytest.mark.parametrize('key', KEYS)
def test_gradients_reach_every_trainable_parameter(key):
    model = build(key).train()
    if key == 'nvsf_a':
        model.gate_mode = 'sample'          # the gate learns through its log-probability (REINFORCE)
    if getattr(model.config, 'reflex_pathway', False):   # the control pathways (all three YAMLs carry them)
        with torch.no_grad():               # the pathways start silent (zero last layers), as if fitted:
            for pathway in ('reflex', 'freeze'):
                if hasattr(model, pathway):
                    torch.nn.init.normal_(getattr(model, pathway)[-1].weight, std=0.1)
                    torch.nn.init.zeros_(getattr(model, pathway)[-1].bias)
            if hasattr(model, 'descent'):   # a bound near zero, and a head descending faster: it binds
                torch.nn.init.normal_(model.descent[-1].weight, std=0.1)
                model.descent[-1].bias.fill_(-10.0)
                model.head[-1].bias[2] = -1.0
    inputs = batch_for(model, seeds=(0, 1, 2, 3))
    if hasattr(model, 'descent'):           # rows 0 and 1 before contact, where the descent bound acts
        wrench = inputs.wrench.clone()
        wrench[:2, -1, :3] = 0.0
        inputs = dataclasses.replace(inputs, wrench=wrench)
    state = model.initial_state(4)
    loss = 0.0
    for _ in range(2):                      # two ticks so memory/plan parameters are used
        out = model(inputs, state)
        loss = loss + out.action.pow(2).sum()
        if out.gate_log_prob is not None:
            loss = loss + out.gate_log_prob.sum()
        # The goal pathway learns from its own supervision only (the head reads it detached).
        loss = loss + sum(value.pow(2).sum() for value in out.goal.values())
        state = out.state
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert no_grad == []


@pytest.mark.parametrize('key', KEYS)
def test_save_load_round_trip_is_exact_and_safe(key, tmp_path):
    model = build(key, seed=1).eval()
    path = tmp_path / f'{key}.safetensors'
    save_weights(model, path, {'note': 'test'})
    other = build(key, seed=2).eval()
    metadata = load_weights(other, path)
    assert metadata['architecture'] == key and metadata['note'] == 'test'
    inputs = batch_for(model)
    torch.testing.assert_close(model(inputs, model.initial_state(3)).action,
                               other(inputs, other.initial_state(3)).action)


@pytest.mark.parametrize('key', KEYS)
def test_bad_weight_files_are_refused_with_the_file_named(key, tmp_path):
    model = build(key)
    corrupt = tmp_path / 'corrupt.safetensors'
    corrupt.write_bytes(b'\x00\x01 not a safetensors file')
    with pytest.raises(WeightsError, match='corrupt.safetensors'):
        load_weights(model, corrupt)
    wrong = tmp_path / 'wrong.safetensors'
    other_key = next(k for k in KEYS if k != key)
    save_weights(build(other_key), wrong)
    with pytest.raises(WeightsError, match=f"architecture '{other_key}'"):
        load_weights(model, wrong)
    with pytest.raises(WeightsError, match='no such weights file'):
        load_weights(model, tmp_path / 'missing.safetensors')
    resized = tmp_path / 'resized.safetensors'
    save_weights(build(key, d_model=96), resized)
    before = {n: p.clone() for n, p in model.state_dict().items()}
    with pytest.raises(WeightsError, match='another'):
        load_weights(model, resized)
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items()), 'model must stay unchanged'


@pytest.mark.parametrize('key', KEYS)
def test_counted_macs_match_torch_flop_counter(key):
    """The per-decision MAC count (used for energy) agrees with torch's own count of what ran."""
    model = build(key).eval()
    inputs = batch_for(model, seeds=(0, 1))
    # The CPU's fused attention kernel is invisible to FlopCounterMode; the math kernel is made of
    # counted matmuls, so force it here.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = model(inputs, model.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2


def test_nvsf_a_gate_skips_encoders_and_their_cost():
    model = build('nvsf_a', ungated_modalities=[]).eval()      # every encoder up to the gate
    inputs = batch_for(model, seeds=(0,))
    state = model.initial_state(1)
    everything = model(inputs, state)
    with torch.no_grad():
        model.gate.bias[:] = -10.0                                # gate says: run nothing
        model.gate.bias[MODALITIES.index('wrench')] = 10.0        # ... except the wrench encoder
    gated = model(inputs, state)
    assert gated.gate[0].tolist() == [m == 'wrench' for m in MODALITIES]
    skipped = sum(model.encoders.macs(m, 1) for m in MODALITIES if m != 'wrench')
    if model.config.goal_pathway:     # no camera, no joints: the pathway's locators do not run either
        skipped += linear_macs(model.goal.candidate_locator, 1) + linear_macs(model.goal.tool_locator, 1)
    assert gated.cost.dense_macs == everything.cost.dense_macs - skipped
    assert torch.isfinite(gated.action).all()


def test_nvsf_a_ungated_encoder_runs_whatever_the_gate_says_and_is_not_part_of_its_decision():
    model = build('nvsf_a', ungated_modalities=['proprio']).eval()
    inputs = batch_for(model, seeds=(0,))
    state = model.initial_state(1)
    proprio, audio = MODALITIES.index('proprio'), MODALITIES.index('audio')
    with torch.no_grad():
        model.gate.bias[:] = -10.0                                # gate says: run nothing
    gated = model(inputs, state)
    assert gated.gate[0].tolist() == [m == 'proprio' for m in MODALITIES]
    assert model.encoders_needed(state)[proprio]
    with torch.no_grad():
        model.gate.bias[proprio] = 10.0                           # the ungated logit: no part of the log-probability
    assert torch.equal(model(inputs, state).gate_log_prob, gated.gate_log_prob)
    with torch.no_grad():
        model.gate.bias[audio] = 0.0                              # a gated one: part of it (log 0.5)
    assert not torch.equal(model(inputs, state).gate_log_prob, gated.gate_log_prob)


def test_nvsf_h_patch_count_is_dynamic_and_zero_is_allowed():
    import numpy as np
    model = build('nvsf_h').eval()
    pre = Preprocessor(model.config.preprocess)
    counts = []
    for n_events in (0, 20, 400, 4000):
        events = None if n_events else np.empty(0, EVENT_DTYPE)
        obs = make_observation(3, n_events=max(n_events, 1), **({'events': events} if events is not None else {}))
        counts.append(model.patch_tokens(pre(obs))[3])
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] == model.n_patches and len(set(counts)) > 2


@pytest.mark.parametrize('key, field, value, message', [
    ('nvsf_c', 'd_model', 0, 'NVSFCConfig.d_model must be > 0'),
    ('nvsf_c', 'n_heads', 5, 'd_model=64 must be a multiple of n_heads=5'),
    ('nvsf_c', 'image_patch', 7, 'preprocess.camera.size=32 is not a multiple'),
    ('nvsf_a', 'gate_mode', 'maybe', 'gate_mode must be one of'),
    ('nvsf_a', 'gate_threshold', 1.5, 'gate_threshold'),
    ('nvsf_a', 'ungated_modalities', ['joints'], r"ungated_modalities: unknown \['joints'\]"),
    ('nvsf_a', 'ungated_modalities', 'proprio', 'ungated_modalities must be a list'),
    ('nvsf_a', 'gate_max_stand_in', -1, 'gate_max_stand_in must be an integer >= 0'),
    ('nvsf_a', 'gate_max_stand_in', 1.5, 'gate_max_stand_in must be an integer >= 0'),
    ('nvsf_a', 'n_heads', 3, 'd_model=32 must be a multiple of n_heads=3'),
    ('nvsf_a', 'action_power', 0.5, 'action_power must be >= 1'),
    ('nvsf_h', 'snn_beta', 0.0, 'snn_beta'),
    ('nvsf_h', 'event_patch', 5, 'event_patch=5 must divide'),
    ('nvsf_h', 'patch_threshold', -1, 'patch_threshold must be > 0'),
])
def test_bad_config_values_name_the_field(key, field, value, message):
    with pytest.raises(ValueError, match=message):
        load_config(key, overrides={field: value})


def test_unknown_config_field_is_refused():
    with pytest.raises(ValueError, match=r"unknown NVSFHConfig fields \['snn_betta'\]"):
        load_config('nvsf_h', overrides={'snn_betta': 0.5})


@pytest.mark.parametrize('key', KEYS)
def test_yaml_config_round_trips_through_the_dataclass(key):
    config = load_config(key)
    assert dataclasses.asdict(config) == dataclasses.asdict(type(config).from_dict(
        {k: v for k, v in dataclasses.asdict(config).items()}))


def run_ticks(model, sequence, training):
    """The outputs of ``model`` over a sequence of single-row inputs from a fresh state; training mode
    never holds a token (its weights change between windows), inference does."""
    model.train(training)
    state, outs = model.initial_state(1), []
    with torch.no_grad():
        for inputs in sequence:
            out = model(inputs, state)
            state, outs = out.state, outs + [out]
    return outs


def test_nvsf_a_holds_the_token_of_an_unchanged_input_with_the_same_commands_and_less_compute():
    from sensor_fusion.architectures.nvsf_a import HELD_MODALITIES
    model = build('nvsf_a')
    first, second = batch_for(model, seeds=(0,)), batch_for(model, seeds=(1,))
    # Tick 2 repeats tick 1's camera frame, tactile pad and events (a 15 Hz camera under a 100 Hz loop);
    # the wrench, audio and joints are new.
    repeated = dataclasses.replace(second, image=first.image, tactile=first.tactile, events=first.events)
    sequence = [first, repeated, second, second]

    encoded, held = run_ticks(model, sequence, training=True), run_ticks(model, sequence, training=False)
    for every_tick, holding in zip(encoded, held):
        assert torch.equal(every_tick.action, holding.action)
    held_index = [MODALITIES.index(m) for m in HELD_MODALITIES]
    saved = sum(model.encoders.macs(m, 1) for m in HELD_MODALITIES) + linear_macs(model.goal.candidate_locator, 1)
    if model.config.freeze_pathway:   # and the image's term of the freeze detector's first layer
        saved += model.freeze_image_term(first.image).numel() * first.image.numel()
    for tick in (1, 3):   # the held encoders (and the camera's locator) did not run again
        assert not held[tick].gate[0, held_index].any() and held[tick].gate[0].sum() == len(MODALITIES) - len(held_index)
        assert held[tick].cost.dense_macs == encoded[tick].cost.dense_macs - saved
    for tick in (0, 2):   # new inputs: every encoder ran
        assert held[tick].gate[0].all() and held[tick].cost.dense_macs == encoded[tick].cost.dense_macs
    # The batched path holds row by row: a row whose camera changed runs it, the other holds it.
    pair_state = model(collate([first, first]), model.initial_state(2)).state
    pair = model(collate([repeated, second]), pair_state)
    camera = MODALITIES.index('camera')
    assert pair.gate[:, camera].tolist() == [False, True]
    single = model(second, model(first, model.initial_state(1)).state)
    torch.testing.assert_close(pair.action[1:], single.action)
    torch.testing.assert_close(pair.action[:1], held[1].action)


@pytest.mark.parametrize('goal_pathway', [False, True])
def test_nvsf_h_holds_the_camera_and_pad_tokens_of_unchanged_inputs_with_the_same_commands(goal_pathway):
    from sensor_fusion.architectures.nvsf_h import HELD_MODALITIES
    # Without the control pathways (on in the shipped config), whose freeze holds its own image term.
    model = build('nvsf_h', **{**NO_PATHWAYS, 'goal_pathway': goal_pathway, 'instruction_memory': goal_pathway})
    first, second = batch_for(model, seeds=(0,)), batch_for(model, seeds=(1,))
    repeated = dataclasses.replace(second, image=first.image, tactile=first.tactile)   # the rest new
    sequence = [first, repeated, second]

    every_tick, holding = run_ticks(model, sequence, training=True), run_ticks(model, sequence, training=False)
    for computed, held in zip(every_tick, holding):
        assert torch.equal(computed.action, held.action)
    saved = sum(model.encoders.macs(m, 1) for m in HELD_MODALITIES)
    if goal_pathway:   # the camera's locator keeps the last sighting
        saved += linear_macs(model.goal.candidate_locator, 1)
    assert holding[1].cost.dense_macs == every_tick[1].cost.dense_macs - saved
    for tick in (0, 2):
        assert holding[tick].cost.dense_macs == every_tick[tick].cost.dense_macs


def test_nvsf_a_gate_skipping_a_present_input_keeps_its_last_token_as_an_unchanged_input_does():
    # Without the freeze detector, which reads the raw image whatever the gate says.
    model = build('nvsf_a', freeze_pathway=False).eval()
    first, second = batch_for(model, seeds=(0,)), batch_for(model, seeds=(1,))
    camera = MODALITIES.index('camera')
    with torch.no_grad():
        after_first = model(first, model.initial_state(1)).state
        same_frame = model(dataclasses.replace(second, image=first.image), after_first)
        model.gate.bias[camera] = -10.0                                      # the gate skips the new frame
        skipped = model(second, after_first)
    assert not skipped.gate[0, camera] and not same_frame.gate[0, camera]
    assert torch.equal(skipped.action, same_frame.action)                    # the last frame's token stood in
    assert skipped.cost.dense_macs == same_frame.cost.dense_macs
    with torch.no_grad():                                                    # nothing seen yet: masked
        fresh = model(second, model.initial_state(1))
        model.gate.bias[camera] = 3.0
        blind = model(second.without(torch.tensor([[m == 'camera' for m in MODALITIES]])), model.initial_state(1))
    torch.testing.assert_close(fresh.action, blind.action)


def test_nvsf_a_gate_staleness_counts_ticks_a_held_token_stood_in_for_a_newer_input_and_steers_the_gate():
    model = build('nvsf_a', freeze_pathway=False, gate_reads_staleness=True).eval()
    plain = build('nvsf_a', freeze_pathway=False)
    first, second, third = (batch_for(model, seeds=(seed,)) for seed in (0, 1, 2))
    camera, held_camera = MODALITIES.index('camera'), 0                     # HELD_MODALITIES[0] is the camera
    staleness_at = model._held_slice().stop
    with torch.no_grad():
        state = model(first, model.initial_state(1)).state                   # the camera ran
        assert state[staleness_at][0, held_camera] == 0
        model.gate.bias[camera] = -10.0                                      # skip the new frames
        state = model(second, state).state
        assert state[staleness_at][0, held_camera] == 1
        state = model(dataclasses.replace(second, image=second.image), state).state   # still newer than the held one
        assert state[staleness_at][0, held_camera] == 2
        state = model(third, state).state
        assert state[staleness_at][0, held_camera] == 3
        unchanged = model(dataclasses.replace(first, image=first.image), state).state      # the held token's own frame
        assert unchanged[staleness_at][0, held_camera] == 3
        assert not model.next_gate(state)[camera]
        assert model.encoders_needed(state)[camera]                          # skipped, yet read: its token stands in
        model.gate_staleness.weight[camera, held_camera] = 20.0              # stale enough: look again
        assert model.next_gate(state)[camera]
        looked = model(batch_for(model, seeds=(3,)), state)                 # a new frame
    assert looked.gate[0, camera] and looked.state[staleness_at][0, held_camera] == 0
    with torch.no_grad():                                                    # its MACs are counted
        plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != 'gate_staleness.weight'})
        assert model(first, model.initial_state(1)).cost.dense_macs == \
            plain.eval()(first, plain.initial_state(1)).cost.dense_macs + 3 * len(MODALITIES)
    assert len(plain.initial_state(1)) == len(model.initial_state(1)) - 1 and not hasattr(plain, 'gate_staleness')
    from sensor_fusion.training.gate_rl import gate_named_parameters   # what REINFORCE trains
    assert [name for name, _ in gate_named_parameters(model)] == ['gate.weight', 'gate.bias', 'gate_staleness.weight']
    assert [name for name, _ in gate_named_parameters(plain)] == ['gate.weight', 'gate.bias']


def test_nvsf_a_gate_max_stand_in_runs_an_encoder_whose_held_token_stood_in_long_enough():
    model = build('nvsf_a', freeze_pathway=False, gate_max_stand_in=2).eval()
    frames = [batch_for(model, seeds=(seed,)) for seed in range(5)]
    camera, held_camera = MODALITIES.index('camera'), 0                     # HELD_MODALITIES[0] is the camera
    staleness_at = model._held_slice().stop
    assert not hasattr(model, 'gate_staleness')                              # bounded, not read: no weights
    with torch.no_grad():
        state = model(frames[0], model.initial_state(1)).state               # the camera ran
        model.gate.bias[camera] = -10.0                                      # the gate would skip every new frame
        ran, needed = [], []
        for frame in frames[1:]:
            needed.append(bool(model.next_gate(state)[camera]))             # decided before the tick
            out = model(frame, state)
            ran.append(bool(out.gate[0, camera]))
            state = out.state
        # Two new frames skipped, the third run whatever the gate says, then skipping again.
        assert ran == [False, False, True, False] and needed == ran
        assert state[staleness_at][0, held_camera] == 1
        # The held token's own frame does not count: it is not a newer input.
        same = model(dataclasses.replace(frames[4], image=frames[3].image), state)
        assert same.state[staleness_at][0, held_camera] == 1 and not same.gate[0, camera]
        # A forced run is not the gate's decision: outside the log-probability RL credits.
        plan_and_action = torch.zeros(1, model.config.d_plan + model.config.action_dim)
        valid = torch.ones(1, len(MODALITIES), dtype=torch.bool)
        overdue, fresh = torch.tensor([[2.0, 0.0, 0.0]]), torch.zeros(1, 3)
        log_probs = {}
        for bias in (-0.5, 2.0):                                              # not symmetric: the log-probabilities differ
            model.gate.bias[camera] = bias
            for name, staleness in (('overdue', overdue), ('fresh', fresh)):
                gate, log_probs[name, bias] = model.decide_gate(plan_and_action, valid, staleness)
                assert bool(gate[0, camera]) == (name == 'overdue' or bias > 0)
    assert torch.equal(log_probs['overdue', -0.5], log_probs['overdue', 2.0])
    assert not torch.equal(log_probs['fresh', -0.5], log_probs['fresh', 2.0])


def test_nvsf_a_single_tick_fast_path_equals_the_batched_path():
    model = build('nvsf_a').eval()
    with torch.no_grad():
        model.gate.bias[MODALITIES.index('audio')] = -10.0       # one encoder skipped
    single = batch_for(model, seeds=(0,))
    pair = collate([single, single])
    one = model(single, model.initial_state(1))
    two = model(pair, model.initial_state(2))
    torch.testing.assert_close(one.action, two.action[:1])
    assert one.cost.dense_macs * 2 == two.cost.dense_macs


@pytest.mark.parametrize('key', ['nvsf_a', 'nvsf_h', 'nvsf_c'])
def test_goal_pathway_commands_from_goal_minus_tool_and_its_macs_are_counted(key):
    model = build(key, goal_pathway=True).eval()
    inputs = batch_for(model, seeds=(0, 1))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = model(inputs, model.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2
    assert out.goal['instruction'].shape == (2, 3) and out.goal['candidates'].shape == (2, 3, 2)
    assert out.goal['tool'].shape == (2, 2) and out.goal['goal'].shape == (2, 2)
    weights = torch.softmax(out.goal['instruction'], dim=1)
    torch.testing.assert_close(out.goal['goal'], (weights[:, :, None] * out.goal['candidates']).sum(dim=1))
    # Moving where the cubes are seen moves the goal, and with it the command.
    with torch.no_grad():
        model.goal.candidate_locator.bias += 0.5
    moved = model(inputs, model.initial_state(2))
    assert not torch.allclose(moved.action, out.action)


def test_nvsf_a_reflex_pathway_starts_silent_reads_the_force_and_the_tool_and_counts_its_macs(tmp_path):
    plain = build('nvsf_a', goal_pathway=True, reflex_pathway=False, freeze_pathway=False, descent_pathway=False).eval()
    reflex = build('nvsf_a', goal_pathway=True, reflex_pathway=True, reflex_mode='add', freeze_pathway=False,
                   descent_pathway=False).eval()
    save_weights(plain, tmp_path / 'plain.safetensors')
    from sensor_fusion.weights import load_matching_weights
    fresh = load_matching_weights(reflex, tmp_path / 'plain.safetensors')    # training's --init
    assert fresh and all(name.startswith('reflex.') for name in fresh)
    inputs = batch_for(reflex, seeds=(0, 1))
    with torch.no_grad():
        before = plain(inputs, plain.initial_state(2))
        silent = reflex(inputs, reflex.initial_state(2))
        torch.testing.assert_close(silent.action, before.action)         # commands exactly as before
        torch.nn.init.normal_(reflex.reflex[-1].weight)                  # as if trained
        trained = reflex(inputs, reflex.initial_state(2))
        wrench = inputs.wrench.clone()
        wrench[:, -1, 2] += 0.2                                           # 4 N more, newest sample only
        pressed = dataclasses.replace(inputs, wrench=wrench)
        harder = reflex(pressed, reflex.initial_state(2))
    assert not torch.allclose(trained.action, harder.action)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = reflex(inputs, reflex.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='goal_pathway'):
        load_config('nvsf_a', overrides={'goal_pathway': False, 'reflex_pathway': True, 'freeze_pathway': False,
                                         'descent_pathway': False})


@pytest.mark.parametrize('key', ['nvsf_a', 'nvsf_h', 'nvsf_c'])
def test_goal_pathway_learns_its_positions_from_their_own_losses_only(key):
    """The head reads goal - tool detached: the action loss leaves the locators and the instruction
    alone (they mean what the trainer supervises), and the goal terms reach each of them."""
    model = build(key, goal_pathway=True).train()
    inputs = batch_for(model, seeds=(0, 1, 2))
    out = model(inputs, model.initial_state(3))
    out.action.pow(2).sum().backward(retain_graph=True)
    pathway = 'goal.'
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith(pathway))
    (out.goal['goal'].sum() + out.goal['tool'].sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n.startswith(pathway))


@pytest.mark.parametrize('key', ['nvsf_a', 'nvsf_h', 'nvsf_c'])
def test_goal_pathway_keeps_the_last_sighting_when_a_sensor_is_missing(key):
    model = build(key, goal_pathway=True).eval()
    inputs = batch_for(model, seeds=(0,))
    first = model(inputs, model.initial_state(1))
    blind = inputs.with_mask(inputs.mask.clone())
    blind.mask[0, MODALITIES.index('camera')] = False
    blind.mask[0, MODALITIES.index('proprio')] = False
    second = model(blind, first.state)
    torch.testing.assert_close(second.goal['candidates'], first.goal['candidates'])
    torch.testing.assert_close(second.goal['tool'], first.goal['tool'])
    assert first.goal['candidates'].ne(model.initial_state(1)[2]).any()


def test_init_weights_carry_every_shared_tensor_and_name_the_fresh_ones(tmp_path):
    from sensor_fusion.weights import load_matching_weights
    plain = build('nvsf_a', seed=1, goal_pathway=False, reflex_pathway=False, freeze_pathway=False, descent_pathway=False)
    path = tmp_path / 'plain.safetensors'
    save_weights(plain, path)
    pathway = build('nvsf_a', seed=2, goal_pathway=True, reflex_pathway=False, freeze_pathway=False, descent_pathway=False)
    fresh = load_matching_weights(pathway, path)
    assert set(fresh) == {n for n in pathway.state_dict() if n.startswith(('goal.', 'head.'))}
    shared = plain.state_dict()
    assert all(torch.equal(t, shared[n]) for n, t in pathway.state_dict().items() if n not in fresh)
    with pytest.raises(WeightsError, match="architecture 'nvsf_h'"):
        save_weights(build('nvsf_h'), tmp_path / 'h.safetensors')
        load_matching_weights(pathway, tmp_path / 'h.safetensors')


def test_nvsf_a_reflex_pathway_taking_over_replaces_the_heads_push_as_the_force_rises():
    model = build('nvsf_a', goal_pathway=True, reflex_pathway=True, reflex_mode='take_over', freeze_pathway=False).eval()
    inputs = batch_for(model, seeds=(0, 1))
    with torch.no_grad():
        torch.nn.init.normal_(model.reflex[-1].weight)
        first = model(inputs, model.initial_state(2)).action
        model.reflex_share.weight.zero_()
        model.reflex_share.bias.fill_(50.0)                   # the reflex's command alone
        taken = model(inputs, model.initial_state(2)).action
        head = model.head[-1].weight.clone()
        torch.nn.init.normal_(model.head[-1].weight)          # the head's push no longer matters,
        changed = model(inputs, model.initial_state(2)).action
        torch.testing.assert_close(changed[:, 2], taken[:, 2])
        assert not torch.allclose(changed[:, :2], taken[:, :2])   # its centring still does
        model.head[-1].weight.copy_(head)
        model.reflex_share.bias.fill_(-50.0)                  # the head's command alone
        head_only = model(inputs, model.initial_state(2)).action
        torch.nn.init.normal_(model.reflex[-1].weight)        # the reflex's output no longer matters
        torch.testing.assert_close(model(inputs, model.initial_state(2)).action, head_only)
    assert not torch.allclose(first, taken)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = model(inputs, model.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='reflex_mode'):
        load_config('nvsf_a', overrides={'reflex_mode': 'sideways'})


def test_nvsf_a_reflex_acts_on_the_newest_force_or_on_its_low_pass():
    """A press bouncing between 1 and 7 N on alternate samples: the newest sample swings with it,
    the low-passed force reads the mean press, and the filter's operations are counted."""
    options = dict(goal_pathway=True, reflex_pathway=True, reflex_mode='take_over', freeze_pathway=False,
                   descent_pathway=False)
    newest = build('nvsf_a', **options, reflex_filter_samples=0.0).eval()
    filtered = build('nvsf_a', **options, reflex_filter_samples=5.0).eval()
    scale = newest.config.preprocess.haptic.force_scale_n
    inputs = batch_for(newest, seeds=(0, 1))
    wrench = torch.zeros_like(inputs.wrench)                            # (B, W, 6)
    wrench[0, :, 2] = torch.tensor([1.0, 7.0]).repeat(wrench.shape[1] // 2) / scale   # newest: 7 N
    wrench[1, :, 2] = torch.tensor([7.0, 1.0]).repeat(wrench.shape[1] // 2) / scale   # newest: 1 N
    torch.testing.assert_close(newest.pressed_force(wrench)[:, 2], torch.tensor([7.0, 1.0]))
    low_passed = filtered.pressed_force(wrench)[:, 2]
    assert torch.all((low_passed > 3.0) & (low_passed < 5.0)), low_passed
    assert abs(float(low_passed[0] - low_passed[1])) < 1.5              # 6 N apart unfiltered
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = filtered(inputs, filtered.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='reflex_filter_samples'):
        load_config('nvsf_a', overrides={'reflex_filter_samples': -1.0})


def resting_and_pressing(model):
    """A batch of two ticks whose wrench window reads nothing (row 0) and a steady 4 N press (row 1)."""
    inputs = batch_for(model, seeds=(0, 1))
    wrench = inputs.wrench.clone()
    wrench[:, :, :3] = 0.0
    wrench[1, :, 2] = 4.0 / model.config.preprocess.haptic.force_scale_n
    return dataclasses.replace(inputs, wrench=wrench)


def test_nvsf_a_descent_pathway_bounds_the_heads_descent_before_contact_only(tmp_path):
    from sensor_fusion.weights import load_matching_weights
    options = dict(goal_pathway=True, reflex_pathway=True, reflex_mode='take_over', freeze_pathway=False)
    plain = build('nvsf_a', **options, descent_pathway=False).eval()
    model = build('nvsf_a', **options, descent_pathway=True).eval()
    save_weights(plain, tmp_path / 'plain.safetensors')
    fresh = load_matching_weights(model, tmp_path / 'plain.safetensors')
    assert fresh and all(name.startswith(('descent.', 'tip_height.', 'press_height')) for name in fresh)
    inputs = resting_and_pressing(model)
    with torch.no_grad():
        for m in (plain, model):
            m.head[-1].bias[2] = -3.0                                        # the head dives at ~full speed
            m.reflex[-1].bias[2] = -0.5                                      # the reflex pushes,
            m.reflex_share.weight.fill_(10.0)                                # all of it from 1 N (fit_reflex)
            m.reflex_share.bias.fill_(-5.0)
        before = plain(inputs, plain.initial_state(2))
        torch.testing.assert_close(model(inputs, model.initial_state(2)).action, before.action)  # no bound at first
        model.descent[-1].bias.fill_(math.log(0.3 / 0.7))                   # bound: head output -0.3
        bounded = model(inputs, model.initial_state(2))
        share = torch.sigmoid(torch.tensor(-5.0))                            # the reflex's share at rest
        bound_logit = torch.atanh(-0.3 * (1 - share) - share)
        expected = torch.tanh(bound_logit + share * (-0.5 - bound_logit))
        torch.testing.assert_close(bounded.head_output[0, 2], expected)     # off the press: bounded
        assert before.head_output[0, 2] < -0.9
        torch.testing.assert_close(bounded.action[0, [0, 1, 3, 4, 5]], before.action[0, [0, 1, 3, 4, 5]])
        torch.testing.assert_close(bounded.action[1], before.action[1])      # pressing: the reflex's push, unbounded
        blind = dataclasses.replace(inputs, mask=inputs.mask.clone())
        blind.mask[:, MODALITIES.index('proprio')] = False                  # no joints: no bound
        assert model(blind, model.initial_state(2)).head_output[0, 2] < -0.9
    assert model.encoders_needed(model.initial_state(1))[MODALITIES.index('proprio')]
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = model(inputs, model.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='descent_pathway'):
        load_config('nvsf_a', overrides={'reflex_mode': 'add', 'descent_pathway': True})
    # With the freeze: a force is a press (the freeze lets it go on) only at the press height.
    frozen = build('nvsf_a', **{**options, 'freeze_pathway': True}, descent_pathway=True).eval()
    with torch.no_grad():
        frozen.head[-1].bias[2] = -3.0
        frozen.freeze[-1].bias.fill_(50.0)                                   # a ball is seen
        at_any_height = frozen(inputs, frozen.initial_state(2)).action        # unfitted: the force alone decides
        assert at_any_height[0].abs().max() < 1e-6 and at_any_height[1].abs().max() > 1e-4
        frozen.press_height.fill_(-1e3)                                      # every tip above the presses:
        braking = frozen(inputs, frozen.initial_state(2)).action              # the 4 N is braking, not a press
        assert braking.abs().max() < 1e-6


def test_nvsf_a_freeze_pathway_starts_silent_stops_the_command_off_the_press_and_holds(tmp_path):
    from sensor_fusion.weights import load_matching_weights
    plain = build('nvsf_a', goal_pathway=True, reflex_pathway=False, freeze_pathway=False, descent_pathway=False).eval()
    model = build('nvsf_a', goal_pathway=True, reflex_pathway=False, freeze_pathway=True, freeze_hold=0.5,
                  descent_pathway=False).eval()
    save_weights(plain, tmp_path / 'plain.safetensors')
    fresh = load_matching_weights(model, tmp_path / 'plain.safetensors')
    assert fresh and all(name.startswith('freeze.') for name in fresh)
    inputs = resting_and_pressing(model)
    with torch.no_grad():
        before = plain(inputs, plain.initial_state(2))
        silent = model(inputs, model.initial_state(2))
        torch.testing.assert_close(silent.action, before.action)            # off at first: as before
        model.freeze[-1].bias.fill_(50.0)                                    # as if a ball were seen
        frozen = model(inputs, model.initial_state(2))
        assert frozen.action[0].abs().max() < 1e-6                           # not pressing: stopped
        assert before.action[0].abs().max() > 1e-4
        torch.testing.assert_close(frozen.action[1], before.action[1])       # pressing: holds its force
        model.freeze[-1].bias.fill_(-50.0)                                   # the ball is no longer seen
        held = model(inputs, frozen.state)
        torch.testing.assert_close(held.goal['freeze'], torch.full((2,), 0.5))   # decays by freeze_hold
        unfrozen = plain(inputs, frozen.state[:len(plain.initial_state(2))])   # the same plan, no freeze
        torch.testing.assert_close(held.action[0], unfrozen.action[0] * 0.5 ** 3)  # shaped: x (1 - 0.5)^3
    assert model.encoders_needed(model.initial_state(1))[MODALITIES.index('events')]
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out = model(inputs, model.initial_state(2))
    assert out.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='goal_pathway'):
        load_config('nvsf_a', overrides={'goal_pathway': False, 'reflex_pathway': False, 'freeze_pathway': True,
                                         'descent_pathway': False})
    with pytest.raises(ValueError, match='freeze_hold'):
        load_config('nvsf_a', overrides={'freeze_hold': 1.0})


def test_freeze_holds_its_image_term_for_a_repeated_frame_skips_it_without_a_camera_and_keeps_it_through_one():
    model = build('nvsf_a')
    with torch.no_grad():
        model.freeze[-1].weight.normal_(std=0.5)                             # a detector that says something
        model.freeze[-1].bias.fill_(0.0)
    first, second = batch_for(model, seeds=(0,)), batch_for(model, seeds=(1,))
    repeated = dataclasses.replace(second, image=first.image)                # the same frame, the rest new
    missing = second.without(torch.tensor([[m == 'camera' for m in MODALITIES]]))
    sequence = [first, repeated, missing, repeated, second]

    every_tick, holding = run_ticks(model, sequence, training=True), run_ticks(model, sequence, training=False)
    for computed, held in zip(every_tick, holding):
        assert torch.equal(computed.goal['freeze'], held.goal['freeze'])
        assert torch.equal(computed.action, held.action)
    image_term = model.freeze_image_term(first.image).numel() * first.image.numel()   # W x 3 S S MACs
    camera_encoder = model.encoders.macs('camera', 1) + linear_macs(model.goal.candidate_locator, 1)
    # Tick 1 repeats tick 0's frame; tick 2 has no camera (no image term: it would be multiplied by
    # zero) and tick 1's pad and events; tick 3 repeats tick 1's frame after it (the missing camera's
    # zeros did not replace the held term), and the pad and events of tick 2; ticks 0 and 4 bring new
    # frames (tick 4 the pad and events of tick 3).
    assert holding[0].cost.dense_macs == every_tick[0].cost.dense_macs
    assert holding[1].cost.dense_macs == every_tick[1].cost.dense_macs - image_term - camera_encoder
    pad_and_events = model.encoders.macs('tactile', 1) + model.encoders.macs('events', 1)
    assert holding[2].cost.dense_macs == every_tick[2].cost.dense_macs - image_term - pad_and_events
    assert holding[3].cost.dense_macs == every_tick[3].cost.dense_macs - image_term - camera_encoder - pad_and_events
    assert holding[4].cost.dense_macs == every_tick[4].cost.dense_macs - pad_and_events


CONTROL_PATHWAYS = dict(goal_pathway=True, reflex_pathway=True, reflex_mode='take_over', reflex_force='magnitude',
                        reflex_filter_samples=5.0, freeze_pathway=True, descent_pathway=True)


#: NVSF-C without and with the goal pathway, the latch and the control pathways, whatever its YAML says.
NVSF_C_PLAIN = {**NO_PATHWAYS, 'goal_pathway': False, 'instruction_memory': False}
NVSF_C_WITH_PATHWAYS = {**CONTROL_PATHWAYS, 'instruction_memory': True}


def test_nvsf_h_carries_the_control_pathways_and_nvsf_as_fitted_ones_graft_onto_it(tmp_path):
    from sensor_fusion.weights import load_matching_weights
    plain = build('nvsf_h', **NO_PATHWAYS).eval()
    silent = build('nvsf_h', **{**NO_PATHWAYS, 'freeze_pathway': True}).eval()
    save_weights(plain, tmp_path / 'plain.safetensors')
    fresh = load_matching_weights(silent, tmp_path / 'plain.safetensors')    # training's --init
    assert fresh and all(name.startswith('freeze.') for name in fresh)
    inputs = resting_and_pressing(silent)
    with torch.no_grad():
        torch.testing.assert_close(silent(inputs, silent.initial_state(2)).action,
                                   plain(inputs, plain.initial_state(2)).action)   # off at first: as before
    # Pathways fitted on NVSF-A (same names, same shapes: they read raw inputs and the tool) graft onto H.
    fitted = build('nvsf_a', seed=3, **CONTROL_PATHWAYS)
    with torch.no_grad():
        for name, tensor in fitted.named_parameters():
            if name.startswith(PATHWAY_PREFIXES):
                tensor.normal_()                                             # as if fitted
        fitted.freeze[-1].weight.zero_()
        fitted.freeze[-1].bias.fill_(50.0)                                   # a ball is seen
    save_weights(fitted, tmp_path / 'a.safetensors')
    model = build('nvsf_h', **CONTROL_PATHWAYS).eval()
    grafted = load_control_pathways(model, tmp_path / 'a.safetensors')
    assert grafted == sorted(n for n in model.state_dict() if n.startswith(PATHWAY_PREFIXES))
    assert all(torch.equal(model.state_dict()[n], fitted.state_dict()[n]) for n in grafted)
    with torch.no_grad():
        out = model(inputs, model.initial_state(2))
        assert out.action[0].abs().max() < 1e-6                             # not pressing: stopped for the ball
        assert out.action[1].abs().max() > 1e-4                             # pressing: holds its force
        torch.testing.assert_close(out.goal['freeze'], torch.ones(2))
        assert len(out.state) == len(model.initial_state(1)) and out.state[-1].shape == (2,)
        tool = out.goal['tool']
        reflex = fitted.reflex(fitted.reflex_input(fitted.pressed_force(inputs.wrench), tool))
        torch.testing.assert_close(model.reflex(model.reflex_input(model.pressed_force(inputs.wrench), tool)), reflex)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        counted = model(inputs, model.initial_state(2))
    assert counted.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='NVSFHConfig.reflex_pathway .* needs goal_pathway'):
        load_config('nvsf_h', overrides={'goal_pathway': False, 'instruction_memory': False})
    # Pathways made under other settings (here the reflex's low-pass) would read their inputs wrongly.
    other = build('nvsf_h', **{**CONTROL_PATHWAYS, 'reflex_filter_samples': 0.0})
    with pytest.raises(WeightsError, match='reflex_filter_samples'):
        load_control_pathways(other, tmp_path / 'a.safetensors')
    # NVSF-C carries them too, but only under the preprocessing they were fitted for.
    with pytest.raises(WeightsError, match='preprocess'):
        load_control_pathways(build('nvsf_c', **NVSF_C_WITH_PATHWAYS, image_patch=12,
                                    preprocess={**yaml_preprocess('nvsf_a'), 'camera': {'size': 48}}),
                              tmp_path / 'a.safetensors')
    nvsf_c = build('nvsf_c', **NVSF_C_WITH_PATHWAYS, image_patch=8, preprocess=yaml_preprocess('nvsf_a')).eval()
    assert load_control_pathways(nvsf_c, tmp_path / 'a.safetensors') == grafted
    with torch.no_grad():
        out = nvsf_c(resting_and_pressing(nvsf_c), nvsf_c.initial_state(2))
    torch.testing.assert_close(out.goal['freeze'], torch.ones(2))
    assert out.action[0].abs().max() < 1e-6 and out.action[1].abs().max() > 1e-4   # as NVSF-H above


def test_graft_pathways_tool_puts_nvsf_as_fitted_pathways_and_detector_on_nvsf_h(tmp_path):
    """tools/graft_pathways.py with the shipped weights: NVSF-A's pathways and camera detector onto NVSF-H."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from sensor_fusion.weights import _read_tensors, read_metadata
    root = Path(__file__).resolve().parents[2]
    values = yaml.safe_load((root / 'config' / 'architectures' / 'nvsf_h.yaml').read_text())
    values.update(CONTROL_PATHWAYS, camera_keypoint_sharpness=10.0)      # NVSF-A's settings
    config = tmp_path / 'nvsf_h.yaml'
    config.write_text(yaml.safe_dump(values))
    source = root / 'models' / 'nvsf_a.safetensors'
    plain = tmp_path / 'plain_h.safetensors'     # an NVSF-H without the goal pathway, as the one before 2026-12-05
    save_weights(build('nvsf_h', **{**NO_PATHWAYS, 'goal_pathway': False, 'instruction_memory': False}), plain)

    def graft(*extra):
        return subprocess.run([sys.executable, str(root / 'tools' / 'graft_pathways.py'), '--architecture', 'nvsf_h',
                               '--weights', str(plain), '--pathways', str(source),
                               '--config', str(config), '--out', str(tmp_path / 'h.safetensors'), *extra],
                              capture_output=True, text=True)

    refused = graft('--camera-detector')            # that NVSF-H has no goal pathway: it would be untrained
    assert refused.returncode != 0 and 'goal.' in refused.stderr and '--for-init' in refused.stderr
    assert graft('--camera-detector', '--for-init').returncode == 0
    fitted, made = _read_tensors(source), _read_tensors(tmp_path / 'h.safetensors')
    taken = [n for n in made if n.startswith(PATHWAY_PREFIXES + ('encoders.encoders.camera.detect.',))]
    assert len(taken) == 25 and all(torch.equal(made[n], fitted[n]) for n in taken)
    plain_h = _read_tensors(plain)
    assert all(torch.equal(made[n], plain_h[n]) for n in made if n in plain_h and n not in taken)
    record = json.loads(read_metadata(tmp_path / 'h.safetensors')['pathways_graft'])
    assert record['pathways_architecture'] == 'nvsf_a' and 'freeze_calibration' in record
    assert any(name.startswith('goal.') for name in record['fresh'])


def test_nvsf_h_instruction_memory_holds_the_named_cube_once_the_state_stops_naming_it():
    model = build('nvsf_h', goal_pathway=True, instruction_memory=True).eval()
    inputs = batch_for(model, seeds=(0, 1))
    state = model.initial_state(2)
    assert len(state) == len(build('nvsf_h', instruction_memory=False).initial_state(2)) + 1
    held = torch.tensor([[3.0, 0.0, -3.0], [-3.0, 3.0, 0.0]])             # what an earlier tone named
    state = state[:4] + (held,) + state[5:]
    with torch.no_grad():
        model.goal.instruction_update.weight.zero_()
        model.goal.instruction_update.bias.fill_(-50.0)                   # hold
        out = model(inputs, state)
        torch.testing.assert_close(out.goal['instruction'], held)
        torch.testing.assert_close(out.state[4], held)                     # carried to the next tick
        model.goal.instruction_update.bias.fill_(50.0)                    # follow the state's reading
        follow = model(inputs, state)
        assert not torch.allclose(follow.goal['instruction'], held)
        deaf = inputs.with_mask(inputs.mask.clone())
        deaf.mask[:, MODALITIES.index('audio')] = False                   # no audio: nothing new was heard
        torch.testing.assert_close(model(deaf, state).goal['instruction'], held)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        counted = model(inputs, state)
    assert counted.cost.dense_macs == counter.get_total_flops() // 2
    with pytest.raises(ValueError, match='instruction_memory'):
        load_config('nvsf_h', overrides={**NO_PATHWAYS, 'goal_pathway': False})


def window_of_ticks(model):
    """Four ticks of a batch of two episodes: tick 1 repeats tick 0's camera frame and pad; tick 2's camera
    is missing in row 0; tick 3 repeats tick 2's frames, so row 0 (missing before) must encode its frame
    and row 1 may share tick 2's token."""
    first, second, third, fourth = (batch_for(model, seeds=seeds) for seeds in ((0, 1), (2, 3), (4, 5), (6, 7)))
    second = dataclasses.replace(second, image=first.image, tactile=first.tactile)
    no_camera = torch.zeros(2, len(MODALITIES), dtype=torch.bool)
    no_camera[0, MODALITIES.index('camera')] = True
    third = third.without(no_camera)
    fourth = dataclasses.replace(fourth, image=third.image, tactile=third.tactile)
    return [first, second, third, fourth]


@pytest.mark.parametrize('key, overrides', [('nvsf_a', {}), ('nvsf_h', {}), ('nvsf_h', {'goal_pathway': True}),
                                            ('nvsf_c', NVSF_C_PLAIN), ('nvsf_c', NVSF_C_WITH_PATHWAYS)])
def test_encoding_a_window_at_once_gives_the_outputs_costs_and_gradients_of_tick_by_tick(key, overrides):
    """The trainer's fast path (FusionArchitecture.encode_window): what each tick's encoders compute, for
    the window in one pass, a repeated input encoded once per run of equal ticks."""
    from torch.utils._pytree import tree_map
    from sensor_fusion.preprocess import FusionInputs
    model = build(key, **overrides)
    model.train()
    if hasattr(model, 'gate_mode'):
        model.gate_mode = 'all'
    ticks = window_of_ticks(model)
    stacked = FusionInputs(**{f.name: torch.cat([getattr(t, f.name) for t in ticks])
                              for f in dataclasses.fields(FusionInputs)})                  # (4 * 2, ...)

    def unroll(encoded):
        model.zero_grad()
        state, outs, loss = model.initial_state(2), [], 0.0
        for k, inputs in enumerate(ticks):
            out = model(inputs, state) if encoded is None else \
                model(inputs, state, encoded=tree_map(lambda x: x[2 * k:2 * k + 2], encoded))
            state, outs, loss = out.state, outs + [out], loss + (out.head_output ** 2).sum()
        loss.backward()
        return outs, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    camera_rows = []
    camera = getattr(model, 'encoders', None)
    if camera is not None:
        camera.encoders['camera'].register_forward_hook(lambda m, args, out: camera_rows.append(len(out)))
    tick_by_tick, gradients = unroll(None)
    camera_rows.clear()
    windowed, window_gradients = unroll(model.encode_window(stacked, len(ticks)))
    for one, other in zip(tick_by_tick, windowed):
        torch.testing.assert_close(one.head_output, other.head_output)
        assert one.cost == other.cost
    assert gradients.keys() == window_gradients.keys() and gradients
    for name in gradients:
        torch.testing.assert_close(gradients[name], window_gradients[name], msg=name)
    if camera is not None:
        # One call over the window. NVSF-A encodes present rows only: tick 0 (2), tick 2 row 1, tick 3
        # row 0 (after its missing frame). NVSF-H encodes every row: tick 0 (2), tick 2 (2, row 0 zeros).
        assert camera_rows == [4]


def test_encoded_tokens_are_refused_at_inference_where_tokens_are_held():
    for key in ('nvsf_a', 'nvsf_h'):
        model = build(key)
        model.train()
        inputs = batch_for(model, seeds=(0,))
        encoded = model.encode_window(inputs, 1)
        model.eval()
        with pytest.raises(ValueError, match='training only'):
            model(inputs, model.initial_state(1), encoded=encoded)
