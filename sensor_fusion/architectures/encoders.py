"""Per-modality encoders that turn one tick of one modality into one token (NVSF-A and NVSF-H)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..preprocess import FusionInputs, PreprocessConfig
from ..preprocess.haptic import N_CONTACT_FEATURES
from .layers import linear_macs

AUDIO_POOLED_FRAMES = 4   # spectrogram frames after pooling: a summary token needs the envelope, not 8 ms detail
EVENT_POOLED_GRID = 8     # event raster side after pooling, for a whole-frame summary token


def summary_features(name: str, inputs: FusionInputs) -> torch.Tensor:
    """The flat (B, F) feature vector one summary encoder reads for modality ``name``."""
    b = inputs.batch_size
    if name == 'camera':
        return inputs.image.reshape(b, -1)                                 # (B, 3 * S * S)
    if name == 'wrench':
        return torch.cat([inputs.wrench.reshape(b, -1), inputs.contact], dim=1)  # (B, W * 6 + 4)
    if name == 'tactile':
        return inputs.tactile.reshape(b, -1)                               # (B, G * G)
    if name == 'audio':
        return F.adaptive_avg_pool1d(inputs.audio, AUDIO_POOLED_FRAMES).reshape(b, -1)  # (B, n_mels * 4)
    if name == 'events':
        t, c, e = inputs.events.shape[1], inputs.events.shape[2], inputs.events.shape[3]
        pooled = F.adaptive_avg_pool2d(inputs.events.reshape(b, t * c, e, e), EVENT_POOLED_GRID)
        return pooled.reshape(b, -1)                                       # (B, T * C * 8 * 8)
    if name == 'proprio':
        return inputs.proprio
    raise KeyError(f'no summary features for modality {name!r}')


def summary_feature_sizes(pre: PreprocessConfig) -> dict[str, int]:
    ev = pre.events
    return {
        'camera': 3 * pre.camera.size ** 2,
        'wrench': pre.haptic.window * 6 + N_CONTACT_FEATURES,
        'tactile': pre.tactile_grid ** 2,
        'audio': pre.audio.n_mels * AUDIO_POOLED_FRAMES,
        'events': ev.bins * ev.channels * EVENT_POOLED_GRID ** 2,
        'proprio': 2 * pre.max_joints,
    }


class CameraKeypointEncoder(nn.Module):
    """Camera image -> token through learned keypoints (spatial softmax, Levine et al., JMLR 2016).

    Per-pixel detectors (1x1 convolutions: at 32 px a cube is a 2x2 colour blob, so colour is what
    finds it) make ``keypoints`` maps; a softmax over each map's pixels gives its expected image
    position (x, y) and the map's peak says how clearly it is seen (a cube under the arm). Those
    3K numbers go through a small MLP. An MLP on the raw pixels had to learn every position of
    every cube separately from a few hundred layouts and never found the target; keypoints give
    positions directly, and the policy's attention can pick the one the tone named.

    ``sharpness`` multiplies the maps before the softmax. A softmax over the S*S pixels of a map a
    fresh detector makes is nearly flat, so every keypoint sits near the image centre and the
    gradient that would move it toward a cube is ~1/(S*S) of a pixel's: measured, with sharpness 1
    a readout of the token explained at most 23 % of the cubes' positions on held-out frames
    (R^2 0.23, even with the encoder trained for it alone), with 10 it reached 0.95 in 8 epochs.
    The peak is reported unscaled.
    """

    def __init__(self, size: int, d_model: int, hidden: int = 16, keypoints: int = 8, sharpness: float = 1.0):
        super().__init__()
        if not sharpness > 0:
            raise ValueError(f'camera keypoint sharpness must be > 0, got {sharpness}')
        self.size, self.sharpness = size, sharpness
        self.detect = nn.Sequential(nn.Conv2d(3, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, keypoints, 1))
        coords = torch.linspace(-1.0, 1.0, size)
        grid_y, grid_x = torch.meshgrid(coords, coords, indexing='ij')                # (S, S) each
        self.register_buffer('grid_x', grid_x.reshape(1, 1, -1), persistent=False)    # (1, 1, S*S)
        self.register_buffer('grid_y', grid_y.reshape(1, 1, -1), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(3 * keypoints, d_model), nn.ReLU(), nn.Linear(d_model, d_model))

    def forward(self, flat_image: torch.Tensor) -> torch.Tensor:
        image = flat_image.reshape(-1, 3, self.size, self.size)                       # (R, 3, S, S)
        maps = self.detect(image).flatten(2)                                           # (R, K, S*S)
        weights = torch.softmax(self.sharpness * maps, dim=2)
        x = (weights * self.grid_x).sum(dim=2)                                         # (R, K) in [-1, 1]
        y = (weights * self.grid_y).sum(dim=2)                                         # (R, K)
        peak = maps.amax(dim=2)                                                        # (R, K)
        return self.mlp(torch.cat([x, y, peak], dim=1))                                # (R, D)

    def macs(self, rows: int) -> int:
        pixels = self.size * self.size
        convolutions = sum(m.in_channels * m.out_channels for m in self.detect if isinstance(m, nn.Conv2d))
        return rows * pixels * convolutions + linear_macs(self.mlp, rows)


class SummaryEncoders(nn.Module):
    """One small encoder per modality: flat features -> a (B, d_model) token (an MLP; keypoints for the camera)."""

    def __init__(self, pre: PreprocessConfig, modalities: tuple[str, ...], d_model: int,
                 camera_sharpness: float = 1.0):
        super().__init__()
        sizes = summary_feature_sizes(pre)
        self.modalities, self.d_model = modalities, d_model
        self.encoders = nn.ModuleDict({
            m: CameraKeypointEncoder(pre.camera.size, d_model, sharpness=camera_sharpness) if m == 'camera'
            else nn.Sequential(nn.Linear(sizes[m], d_model), nn.ReLU(), nn.Linear(d_model, d_model))
            for m in modalities})

    def encode(self, name: str, inputs: FusionInputs, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Token of modality ``name`` for every batch row, or only for ``rows`` (skipped rows cost nothing)."""
        features = summary_features(name, inputs)
        if rows is not None:
            features = features[rows]
        return self.encoders[name](features)                                # (R, D)

    def macs(self, name: str, rows: int) -> int:
        encoder = self.encoders[name]
        return encoder.macs(rows) if isinstance(encoder, CameraKeypointEncoder) else linear_macs(encoder, rows)

    def encode_window(self, name: str, inputs: FusionInputs, ticks: int, run: torch.Tensor) -> torch.Tensor:
        """Training: the tokens (T * B, D) of modality ``name`` for a window of ``ticks`` ticks stacked
        tick-major (row t * B + b is tick t of episode b), on the rows ``run`` (T * B,) bool marks, zeros
        on the others. The same tokens as :meth:`encode` tick by tick, from one call instead of T.

        Why: truncated backpropagation runs the recurrence tick by tick, but an encoder reads one tick
        alone, so it need not wait for the recurrence. Measured on NVSF-A's cloning (32 episodes, 64-tick
        windows), the camera encoder's convolutions forward and backward took 24 % of the time,
        called on 32 rows a tick.

        An input that repeats (REPEATING_INPUTS: the 15 Hz camera's frame held over ~7 ticks of a 100 Hz
        loop, the pad without contact) is encoded once per run of equal ticks of an episode, and that
        token is gathered for the run's ticks. Its gradient sums over them, as it would over the ticks
        encoded one by one. Only a run of ticks that all ran is shared: a missing tick breaks it.
        """
        features = summary_features(name, inputs)                           # (T * B, F)
        tokens = features.new_zeros(features.shape[0], self.d_model)         # (T * B, D)
        if name not in REPEATING_INPUTS:
            rows = run.nonzero().squeeze(1)                                   # (R,)
            return tokens.index_put((rows,), self.encoders[name](features[rows])) if rows.numel() else tokens
        b = features.shape[0] // ticks
        per_tick = features.reshape(ticks, b, -1)                            # (T, B, F)
        ran = run.reshape(ticks, b)                                           # (T, B)
        repeats = torch.zeros_like(ran)                                       # (T, B): same input as the tick before, both ran
        repeats[1:] = ran[1:] & ran[:-1] & (per_tick[1:] == per_tick[:-1]).all(dim=2)
        fresh = ran & ~repeats                                                # (T, B): encoded
        if not bool(fresh.any()):
            return tokens
        # For each row, the tick of the latest fresh row of its episode at or before it.
        tick = torch.arange(ticks, device=run.device)[:, None].expand(ticks, b)   # (T, B)
        source_tick = torch.where(fresh, tick, torch.zeros_like(tick)).cummax(dim=0).values   # (T, B)
        source_row = (source_tick * b + torch.arange(b, device=run.device)).reshape(-1)      # (T * B,)
        unique_index = fresh.reshape(-1).cumsum(0) - 1                       # (T * B,) position among the fresh rows
        unique = self.encoders[name](features[fresh.reshape(-1)])            # (U, D)
        gathered = unique[unique_index[source_row].clamp(min=0)]             # (T * B, D)
        return torch.where(run[:, None], gathered, tokens)


#: The FusionInputs field each summary encoder reads, for the modalities whose input repeats between
#: ticks: a slower sensor's sample held (the camera: 87 % of a recorded episode's ticks at 15 Hz under
#: a 100 Hz loop), or nothing to report (the pad without contact: 91 %; empty event windows: 20 %).
#: The wrench and audio windows slide every tick and the joints carry sensor noise: never compared.
REPEATING_INPUTS = {'camera': 'image', 'tactile': 'tactile', 'events': 'events'}


class HeldTokens:
    """The tokens of inputs that have not changed since their encoder last ran, carried in the state.

    At inference an encoder whose input equals the one its held token was made from need not run:
    the held token is what it would give (the same input, the same weights), so the commands are
    the same to the bit. Training holds nothing in the state (its weights change between windows, so
    a held token would be stale); within a window it shares a repeated input's token
    (:meth:`SummaryEncoders.encode_window`). ``modalities``: those held, a subset of REPEATING_INPUTS.

    State entries (after :meth:`initial_state`): held tokens (B, H, D), held (B, H) bool, then the
    input each was made from.
    """

    def __init__(self, modalities: tuple[str, ...], d_model: int, pre: PreprocessConfig):
        unknown = [m for m in modalities if m not in REPEATING_INPUTS]
        if unknown:
            raise ValueError(f'no held token for {unknown}: only {tuple(REPEATING_INPUTS)} repeat between ticks')
        self.modalities, self.d_model = modalities, d_model
        shapes = {'camera': (3, pre.camera.size, pre.camera.size), 'tactile': (1, pre.tactile_grid, pre.tactile_grid),
                  'events': (pre.events.bins, pre.events.channels, pre.events.grid, pre.events.grid)}
        self._shapes = [shapes[m] for m in modalities]

    @property
    def entries(self) -> int:
        return 2 + len(self.modalities)

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> tuple[torch.Tensor, ...]:
        """Nothing held at first."""
        return ((torch.zeros(batch_size, len(self.modalities), self.d_model, device=device),
                 torch.zeros(batch_size, len(self.modalities), dtype=torch.bool, device=device))
                + tuple(torch.zeros(batch_size, *shape, device=device) for shape in self._shapes))

    def unchanged(self, inputs: FusionInputs, wanted: torch.Tensor, held: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(B, H) bool: the token is wanted (B, H) and its input equals the one the held token was made from."""
        held_seen, held_inputs = held[1], held[2:]
        unchanged = torch.zeros_like(wanted)
        for h, name in enumerate(self.modalities):
            current = getattr(inputs, REPEATING_INPUTS[name])
            if wanted.shape[0] == 1:   # the deployment path: one comparison, no per-row bookkeeping
                unchanged[0, h] = bool(wanted[0, h]) and bool(held_seen[0, h]) and torch.equal(current, held_inputs[h])
            else:
                same = (current == held_inputs[h]).flatten(1).all(dim=1)          # (B,)
                unchanged[:, h] = wanted[:, h] & held_seen[:, h] & same
        return unchanged

    def update(self, held: tuple[torch.Tensor, ...], ran: torch.Tensor, tokens: torch.Tensor,
               inputs: FusionInputs) -> tuple[torch.Tensor, ...]:
        """The held entries after a tick: the token (B, H, D) and input of every encoder that ran (B, H) replace the held ones."""
        if not ran.any():
            return held
        held_tokens = torch.where(ran[:, :, None], tokens, held[0])                  # (B, H, D)
        held_inputs = tuple(
            torch.where(ran[:, h].view(-1, *([1] * (previous.dim() - 1))), getattr(inputs, REPEATING_INPUTS[name]),
                        previous)
            for h, (name, previous) in enumerate(zip(self.modalities, held[2:])))
        return (held_tokens, held[1] | ran) + held_inputs


class GoalPathway(nn.Module):
    """Where to go, for a head that commands from ``goal - tool`` (NVSF-A/H ``goal_pathway``).

    ``candidate_locator``: the camera token -> (K, 2) table positions of the K objects the
    instruction chooses between; ``tool_locator``: the joint positions -> (2,) the tool's table
    position; ``instruction``: the recurrent state -> K logits of which object was named. The goal
    is the instruction-weighted mean of the candidates. Candidates and tool are renewed only on rows
    whose sensor gave them this tick (a skipped or missing camera keeps the last sighting). The
    head reads ``goal - tool`` detached: the trainer supervises the four quantities with their
    true values, and the action loss cannot bend what they mean.
    """

    def __init__(self, d_camera: int, d_state: int, proprio_size: int, candidates: int,
                 instruction_memory: bool = False):
        super().__init__()
        self.candidates, self.instruction_memory = candidates, instruction_memory
        self.candidate_locator = nn.Linear(d_camera, 2 * candidates)
        self.tool_locator = nn.Sequential(nn.Linear(proprio_size, d_camera), nn.ReLU(), nn.Linear(d_camera, 2))
        self.instruction = nn.Linear(d_state, candidates)
        if instruction_memory:
            # A gated latch on the instruction's logits: each tick moves them toward the state's
            # reading by a share the audio token decides, so what was heard is held once the tone
            # has ended. Why: NVSF-H's memory is one token; traced after cloning, its goal named
            # the target while the tone sounded and fell back to the cubes' average when it ended,
            # and a latch gated by the state itself (share 0.5 at first) still forgot it after an
            # epoch. It starts slow (5 % a tick: a time constant of 0.2 s at 100 Hz).
            self.instruction_update = nn.Linear(d_camera, 1)
            nn.init.zeros_(self.instruction_update.weight)
            nn.init.constant_(self.instruction_update.bias, -3.0)

    def initial_state(self, batch_size: int, device: torch.device | str = 'cpu') -> tuple[torch.Tensor, ...]:
        state = (torch.zeros(batch_size, self.candidates, 2, device=device),   # last candidate positions
                 torch.zeros(batch_size, 2, device=device))                     # last tool position
        if self.instruction_memory:
            state += (torch.zeros(batch_size, self.candidates, device=device),)  # held instruction logits
        return state

    def locate(self, inputs: FusionInputs, camera_token: torch.Tensor, seen: torch.Tensor, felt: torch.Tensor,
               last_candidates: torch.Tensor, last_tool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """((B, K, 2) candidates, (B, 2) tool, MACs): renewed where ``seen`` (B,) / ``felt`` (B,), else the last."""
        b = camera_token.shape[0]
        # Nothing seen or felt (a skipped encoder at batch 1, the deployment case): nothing computed.
        candidates, tool = last_candidates, last_tool
        if seen.any():
            located = self.candidate_locator(camera_token).view(b, -1, 2)                    # (B, K, 2)
            candidates = torch.where(seen[:, None, None], located, last_candidates)
        if felt.any():
            tool = torch.where(felt[:, None], self.tool_locator(inputs.proprio), last_tool)  # (B, 2)
        macs = linear_macs(self.candidate_locator, int(seen.sum())) + linear_macs(self.tool_locator, int(felt.sum()))
        return candidates, tool, macs

    def decide(self, state: torch.Tensor, located: tuple[torch.Tensor, torch.Tensor, int],
               held_instruction: torch.Tensor | None = None, audio_token: torch.Tensor | None = None,
               heard: torch.Tensor | None = None, teacher_offset: torch.Tensor | None = None,
               instruction_input: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor, int]:
        """(the quantities for PolicyOutput.goal, the head's input (B, S + 2), MACs) from the state (B, S)
        and, with ``instruction_memory``, the instruction logits held from the last tick (B, K), the
        audio token (B, D) that decides how far they move, and whether the audio arrived (B,) bool:
        without it they are held. ``teacher_offset`` (B, 2), training only: the true goal - tool the
        head reads instead of the estimate on the rows where it is not NaN (goal teacher forcing,
        training.behaviour_cloning.TrainConfig.goal_teacher_forcing). ``instruction_input`` (B, S): what
        the instruction is read from, if not the state (NVSF-C: its audio token, see nvsf_c.py)."""
        candidates, tool, macs = located
        source = state if instruction_input is None else instruction_input                   # (B, S)
        instruction = reading = self.instruction(source)                                     # (B, K)
        if self.instruction_memory:
            share = torch.sigmoid(self.instruction_update(audio_token)) * heard.float()[:, None]   # (B, 1)
            instruction = held_instruction + share * (reading - held_instruction)             # (B, K)
            macs += linear_macs(self.instruction_update, state.shape[0])
        goal_xy = (torch.softmax(instruction, dim=1)[:, :, None] * candidates).sum(dim=1)    # (B, 2)
        goal = {'instruction': instruction, 'candidates': candidates, 'tool': tool, 'goal': goal_xy}
        if self.instruction_memory:   # what the latch read this tick (the trainer supervises it while the tone sounds)
            goal['instruction_reading'] = reading
        offset = (goal_xy - tool).detach()                                                   # (B, 2)
        if teacher_offset is not None:
            offset = torch.where(torch.isnan(teacher_offset), offset, teacher_offset)        # (B, 2)
        head_input = torch.cat([state, offset], dim=1)                                       # (B, S + 2)
        return goal, head_input, macs + linear_macs(self.instruction, state.shape[0])
