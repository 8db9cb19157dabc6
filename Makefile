# `make demo` and `make test` create .venv on first use and install imbsemi from this folder.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export WANDB_MODE ?= offline

.PHONY: demo test test-all bench gpu-wheels clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev,ensemble]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/imbsemi demo --config configs/quickstart.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q --runslow

bench: $(STAMP)
	$(BIN)/python experiments/bench_throughput.py --quick

# The pure-Python packages a CUDA machine with PyTorch preinstalled lacks (experiments/gpu_check.sh installs
# them from here without network), at the versions of this venv, for Python 3.12 on manylinux x86-64.
# antlr4-python3-runtime (needed by hydra-core, needed by lightly) is published as a source archive only:
# it is built here into a pure-Python wheel.
GPU_WHEELS := .gpu_wheels
GPU_PACKAGES := lightly hydra-core omegaconf
GPU_PINS = $$($(BIN)/python -c "import importlib.metadata as m, sys; print(' '.join(f'{p}=={m.version(p)}' for p in sys.argv[1:]))" $(1))

gpu-wheels: $(STAMP)
	rm -rf $(GPU_WHEELS).tmp && mkdir -p $(GPU_WHEELS).tmp
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
		--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d $(GPU_WHEELS).tmp $(call GPU_PINS,$(GPU_PACKAGES))
	$(BIN)/pip wheel -q --no-deps -w $(GPU_WHEELS).tmp $(call GPU_PINS,antlr4-python3-runtime)
	rm -rf $(GPU_WHEELS) && mv $(GPU_WHEELS).tmp $(GPU_WHEELS)
	ls -l $(GPU_WHEELS)

clean:
	rm -rf runs .pytest_cache
