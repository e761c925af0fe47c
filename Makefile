# idpo — the two commands a new user needs: `make demo` and `make test`.

SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libhdf5-dev pkg-config

.PHONY: test build release deps bench demo clean

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

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: release
	.build/release/idpo bench

demo: release
	Scripts/demo.sh

clean:
	rm -rf .build
