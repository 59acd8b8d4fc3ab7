# libnn - plain Makefile. `make` builds build/libnn.a, build/libnn.so and
# build/nn. See README.md for the targets.

CC      ?= cc
BLAS    ?= onednn
BUILD   ?= build
PREFIX  ?= /usr/local
OPT     ?= -O2
WERROR  ?= $(if $(CI),-Werror)
SAN     ?=
V       ?=
Q        = $(if $(V),,@)

WARN    = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OMP     ?= -fopenmp
CFLAGS  += -std=c11 $(OPT) -g $(WARN) $(WERROR) -fPIC $(OMP) $(SAN) \
           -fno-math-errno -D_POSIX_C_SOURCE=200809L -Iinclude
LDFLAGS += $(OMP) $(SAN)

ifeq ($(BLAS),onednn)
  BLAS_LIBS = -ldnnl
else ifeq ($(BLAS),openblas)
  CFLAGS   += -DNN_GEMM_CBLAS -DNN_OPENBLAS
  BLAS_LIBS = -lopenblas
else
  $(error BLAS must be onednn or openblas, not '$(BLAS)')
endif
LIBS = $(BLAS_LIBS) -lcjson -lcsv -lstb -lz -lm
CLI_LIBS = -linih -lcairo $(shell pkg-config --libs libgvc 2>/dev/null || echo -lgvc -lcgraph -lcdt)

# Data-parallel training: when Open MPI is installed (MPI=none builds
# without), the plugin nn-mpi.so (tools/mpi/) links it, and nn loads the
# plugin only under mpirun (tools/dist.c); the library never links MPI.
MPI ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo openmpi || echo none)
ifeq ($(MPI),openmpi)
  MPI_PLUGIN = $(BUILD)/nn-mpi.so
endif

# The public headers: include/nn.h includes the sub-headers include/nn/*.h.
HEADERS   = include/nn.h $(sort $(wildcard include/nn/*.h))

# The shared library's version (from include/nn/core.h) and SONAME: libnn.so.MAJOR
# names the ABI; make install adds the versioned file and the two links.
VERSION  := $(shell sed -n 's/^\#define NN_VERSION_STRING "\(.*\)"/\1/p' include/nn/core.h)
SOMAJOR  := $(shell sed -n 's/^\#define NN_VERSION_MAJOR \([0-9]*\)/\1/p' include/nn/core.h)
SONAME    = libnn.so.$(SOMAJOR)

LIB_SRC  = $(sort $(wildcard src/*.c src/*/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(sort $(wildcard tests/*.c))
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
CLI_SRC  = $(sort $(wildcard tools/*.c))
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps check test test-mpi bench-mpi run run-cnn asan ubsan install uninstall clean fuzz bench example \
        portable examples examples-quick example-sine example-sine-quick

all: $(BUILD)/libnn.a $(BUILD)/libnn.so $(BUILD)/nn $(MPI_PLUGIN) $(BUILD)/nn.1 $(BUILD)/nn.bash

# The manual page nn(1) and bash completion, generated from nn's own help
# texts (so they list exactly its commands and flags).
$(BUILD)/nn.1: $(BUILD)/nn scripts/gen-man.sh
	$(if $(V),,@echo "  GEN     $@")
	$(Q)scripts/gen-man.sh $(BUILD)/nn > $@.tmp && mv $@.tmp $@
$(BUILD)/nn.bash: $(BUILD)/nn scripts/gen-completion.sh
	$(if $(V),,@echo "  GEN     $@")
	$(Q)scripts/gen-completion.sh $(BUILD)/nn > $@.tmp && mv $@.tmp $@

deps:
	@scripts/install-deps.sh

$(BUILD)/%.o: %.c $(HEADERS) $(wildcard src/*.h src/*/*.h tests/*.h tools/*.h)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libnn.a: $(LIB_OBJ)
	@rm -f $@
	$(if $(V),,@echo "  AR      $@")
	$(Q)ar rcs $@ $^

# The export list, from the NN_API declarations of the public headers: hidden
# visibility alone leaves GCC's ifunc resolvers of the multiversioned kernels exported.
$(BUILD)/libnn.map: $(HEADERS)
	@mkdir -p $(dir $@)
	$(Q){ echo '{ global:'; sed -n 's/^NN_API[^(]*[ *]\([a-z_][a-z0-9_]*\)(.*/  \1;/p' $^; \
	  echo 'local: *; };'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/libnn.so.$(VERSION): $(LIB_OBJ) $(BUILD)/libnn.map
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,$(BUILD)/libnn.map \
	    -o $@ $(LIB_OBJ) $(LDFLAGS) $(LIBS)

$(BUILD)/libnn.so: $(BUILD)/libnn.so.$(VERSION)
	$(Q)ln -sf libnn.so.$(VERSION) $(BUILD)/$(SONAME)
	$(Q)ln -sf $(SONAME) $@

$(BUILD)/nn: $(CLI_OBJ) $(BUILD)/libnn.a
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libnn.a $(LDFLAGS) $(LIBS) $(CLI_LIBS)

# The test runner: every tests/*.c declares its groups with NN_GROUP(name, ...);
# the list of groups is generated so adding a test file needs no edit here.
$(BUILD)/tests/groups.h: $(TEST_SRC)
	@mkdir -p $(dir $@)
	@grep -ho '^NN_GROUP[A-Z_]*([a-z0-9_]*' $(TEST_SRC) | sed 's/^NN_GROUP[A-Z_]*(/X(/; s/$$/)/' > $@.tmp
	@mv $@.tmp $@

$(BUILD)/tests/runner.o: $(BUILD)/tests/groups.h
# The library and its tests see the private headers in src/; the CLI sees
# only the public headers (include/nn.h), as any program using the library
# does. The library's symbols are hidden unless those headers mark them NN_API.
$(BUILD)/src/%.o: CFLAGS += -Isrc -fvisibility=hidden
$(BUILD)/tests/%.o: CFLAGS += -Isrc -I$(BUILD)/tests -Itests -DNN_TESTING
$(BUILD)/tools/%.o: CFLAGS += $(shell pkg-config --cflags cairo libgvc 2>/dev/null)

$(BUILD)/nn-mpi.so: tools/mpi/nn_mpi.c tools/cli.h $(HEADERS)
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags ompi-c) -shared $< -o $@ \
	    $(shell pkg-config --libs ompi-c)

# The test runner's own copy of the library sources with test-only failure
# injection (src/io/io.h, -DNN_TESTING), linked ahead of libnn.a so that it
# replaces those members: the library that is built and installed has no
# hooks.
TESTING_SRC = src/io/safetensors.c
TESTING_OBJ = $(TESTING_SRC:%.c=$(BUILD)/testing/%.o)
$(BUILD)/testing/%.o: %.c $(HEADERS) $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -Isrc -DNN_TESTING -c $< -o $@

$(BUILD)/test_runner: $(TEST_OBJ) $(TESTING_OBJ) $(BUILD)/libnn.a
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) -o $@ $(TEST_OBJ) $(TESTING_OBJ) $(BUILD)/libnn.a $(LDFLAGS) $(LIBS) -lcmocka

test: $(BUILD)/test_runner $(BUILD)/nn $(BUILD)/libnn.so $(BUILD)/nn.1 $(BUILD)/nn.bash
	$(BUILD)/test_runner

# `mpirun -np N nn train` end to end (tests/test_mpi.c; skipped by `test`).
test-mpi: $(BUILD)/test_runner $(BUILD)/nn $(MPI_PLUGIN)
	NN_TEST_MPI=1 $(BUILD)/test_runner mpi

# Every leg runs (a failing one does not hide the others), each printing
# one line; its whole output is in build/check/LEG.log (V=1 shows it).
LEG = V=$(V) scripts/check-leg.sh
SUB = $(MAKE) --no-print-directory
check: deps
	@fail=0; \
	$(LEG) default  build/check $(SUB) all test     || fail=$$((fail + 1)); \
	$(LEG) gradcheck build/check $(BUILD)/nn gradcheck --all || fail=$$((fail + 1)); \
	$(LEG) example  build/check $(SUB) example      || fail=$$((fail + 1)); \
	$(LEG) cblas    build/check $(SUB) BUILD=build-cblas BLAS=openblas test || fail=$$((fail + 1)); \
	$(LEG) portable build/check $(SUB) portable     || fail=$$((fail + 1)); \
	$(LEG) mpi      build/check $(SUB) test-mpi     || fail=$$((fail + 1)); \
	$(LEG) examples build/check $(SUB) examples-quick || fail=$$((fail + 1)); \
	if [ $$fail -eq 0 ]; then echo "check: all 7 legs passed"; \
	else echo "check: $$fail of 7 legs FAILED (logs in build/check/)"; exit 1; fi

# The suite as a CPU without AVX-512 runs it: the library's kernels built
# without the AVX-512/AVX2 clones, oneDNN limited to AVX2.
portable:
	ONEDNN_MAX_CPU_ISA=AVX2 $(MAKE) --no-print-directory BUILD=build-portable \
	    OPT="-O2 -DNN_NO_MULTIVERSION" test

# The embedding example, built against an installed copy of the library
# through pkg-config, run on a model trained by the CLI; and the tutorial.
STAGE = $(CURDIR)/$(BUILD)/stage
.PHONY: stage tutorial docs
stage: all
	@rm -rf $(STAGE) && $(MAKE) --no-print-directory install PREFIX=$(STAGE) >/dev/null

# docs/tutorial.md's code blocks, compiled against the staged install and
# run (scripts/tutorial.py), in $(BUILD)/tutorial.
TUTORIAL = /usr/bin/python3 scripts/tutorial.py docs/tutorial.md $(BUILD)/tutorial --prefix $(STAGE)
tutorial: stage
	$(TUTORIAL)

example: stage
	@grep -q '^\.TH NN 1' $(STAGE)/share/man/man1/nn.1 && \
	    grep -q -- '--optim' $(STAGE)/share/bash-completion/completions/nn \
	    || { echo "example: nn.1 or the bash completion not installed"; exit 1; }
	$(CC) -std=c11 -Wall -Wextra -Werror examples/embed.c -o $(BUILD)/embed \
	    $$(PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config --cflags --libs nn) \
	    -Wl,-rpath,$(STAGE)/lib
	$(BUILD)/nn train --data tests/data/iris-mini.csv --label species --epochs 200 \
	    --batch 9 --lr 0.02 --seed 1 --out $(BUILD)/iris.safetensors --quiet
	printf '5.1 3.5 1.4 0.2\n6.3,3.3,6,2.5\n' | $(BUILD)/embed $(BUILD)/iris.safetensors \
	    | tee $(BUILD)/embed.out
	@grep -q '^0 setosa' $(BUILD)/embed.out && grep -q '^2 virginica' $(BUILD)/embed.out \
	    || { echo "example: unexpected predictions"; exit 1; }
	$(CC) -std=c11 -Wall -Wextra -Werror examples/xor.c -o $(BUILD)/xor \
	    $$(PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config --cflags --libs nn) \
	    -Wl,-rpath,$(STAGE)/lib
	$(BUILD)/xor
	$(CC) -std=c11 -Wall -Wextra -Werror examples/graph_dot.c -o $(BUILD)/graph_dot \
	    $$(PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig pkg-config --cflags --libs nn) \
	    -Wl,-rpath,$(STAGE)/lib
	$(BUILD)/graph_dot 2>$(BUILD)/graph-example.out > $(BUILD)/graph-example.dot
	grep -q '^f = 6; df/dx = 2, df/dy = 5, df/dz = 0$$' $(BUILD)/graph-example.out
	$(BUILD)/nn graph $(BUILD)/graph-example.dot --png $(BUILD)/graph-example.png
	$(TUTORIAL)
	@echo "examples: embed, xor, graph_dot and the tutorial ran as expected"

# The API reference, generated from the public headers by Debian's doxygen
# (docs/Doxyfile; installed on demand): build/docs/html/index.html. Fails on
# any doxygen warning, e.g. a public declaration without a comment.
docs:
	@scripts/install-deps.sh docs
	@rm -rf build/docs
	doxygen docs/Doxyfile
	@echo "docs: build/docs/html/index.html"

# The lectures' experiments (examples/*.c, issue 18): `make examples` runs each
# in full, writing its plots to EXAMPLES_OUT; `make examples-quick` runs the
# reduced versions that `make check` runs, which assert each claim.
EXAMPLES_OUT ?= $(BUILD)/examples
EXAMPLE_BINS = xor_lecture overfit init optimizers ball_render curves
EXAMPLE_EXE  = $(EXAMPLE_BINS:%=$(BUILD)/examples/%)
$(BUILD)/examples/%: examples/%.c examples/chart.c examples/chart.h $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(if $(V),,@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags cairo) $< examples/chart.c -o $@ \
	    $(BUILD)/libnn.a $(LDFLAGS) $(LIBS) -lcairo

examples: all $(EXAMPLE_EXE) example-sine
	@EX=$(BUILD)/examples NN=$(BUILD)/nn OUT=$(EXAMPLES_OUT) scripts/examples.sh full

examples-quick: all $(EXAMPLE_EXE) example-sine-quick
	@EX=$(BUILD)/examples NN=$(BUILD)/nn OUT=$(BUILD)/examples-quick scripts/examples.sh quick

# The lectures' sine regression (examples/sine.sh): fits of 1, 3 and 10 tanh
# units and an nn sweep of the hidden units with restarts, with their plots
# in $(BUILD)/examples/sine/; example-sine-quick is its reduced run (a few
# seconds), which make check runs.
example-sine: $(BUILD)/nn
	NN=$(BUILD)/nn examples/sine.sh $(BUILD)/examples/sine
example-sine-quick: $(BUILD)/nn
	NN=$(BUILD)/nn examples/sine.sh --quick $(BUILD)/examples/sine-quick

# libnn and PyTorch side by side (bench/run.py); updates bench/RESULTS.md.
# One program, two names: they differ only in their default --model.
$(BUILD)/bench_mlp: bench/bench_model.c $(BUILD)/libnn.a
	$(CC) $(CFLAGS) -DBENCH_DEFAULT_MODEL='"mlp"' $< -o $@ $(BUILD)/libnn.a $(LDFLAGS) $(LIBS)

$(BUILD)/bench_cnn: bench/bench_model.c $(BUILD)/libnn.a
	$(CC) $(CFLAGS) -DBENCH_DEFAULT_MODEL='"lenet"' $< -o $@ $(BUILD)/libnn.a $(LDFLAGS) $(LIBS)

bench: deps all $(BUILD)/bench_mlp $(BUILD)/bench_cnn
	/usr/bin/python3 bench/run.py

# Data-parallel training against 1 rank and PyTorch DDP (bench/mpi.py).
$(BUILD)/bench_allreduce: bench/allreduce.c
	$(CC) -std=c11 -O2 $(WARN) $(shell pkg-config --cflags ompi-c) $< -o $@ \
	    $(shell pkg-config --libs ompi-c)

bench-mpi: deps all $(BUILD)/bench_allreduce
	/usr/bin/python3 bench/mpi.py --build $(BUILD)

run: deps all
	$(BUILD)/nn train --config examples/fashion-mnist.ini

# The LeNet-style CNN of issue 17, 10 epochs (examples/lenet.ini).
run-cnn: deps all
	$(BUILD)/nn train --config examples/lenet.ini

# fontconfig (under cairo's text) keeps caches for the process lifetime
asan: export LSAN_OPTIONS = suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address -fno-omit-frame-pointer" test

ubsan:
	$(MAKE) BUILD=build-ubsan OPT=-O1 SAN="-fsanitize=undefined -fno-sanitize-recover=all" test

install: all
	install -d $(DESTDIR)$(PREFIX)/include/nn $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/nn.h $(DESTDIR)$(PREFIX)/include/nn.h
	install -m 644 $(filter include/nn/%,$(HEADERS)) $(DESTDIR)$(PREFIX)/include/nn/
	install -m 644 $(BUILD)/libnn.a $(DESTDIR)$(PREFIX)/lib/libnn.a
	install -m 755 $(BUILD)/libnn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libnn.so.$(VERSION)
	ln -sf libnn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libnn.so
	install -m 755 $(BUILD)/nn $(DESTDIR)$(PREFIX)/bin/nn
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 $(BUILD)/nn.1 $(DESTDIR)$(PREFIX)/share/man/man1/nn.1
	install -m 644 $(BUILD)/nn.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nn
	$(if $(MPI_PLUGIN),install -d $(DESTDIR)$(PREFIX)/lib/nn && \
	    install -m 755 $(MPI_PLUGIN) $(DESTDIR)$(PREFIX)/lib/nn/nn-mpi.so)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS@|$(LIBS) -fopenmp|' nn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn.pc

# Removes exactly what install put there.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/nn.h $(addprefix $(DESTDIR)$(PREFIX)/,$(filter include/nn/%,$(HEADERS))) \
	    $(DESTDIR)$(PREFIX)/lib/libnn.a \
	    $(DESTDIR)$(PREFIX)/lib/libnn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	    $(DESTDIR)$(PREFIX)/lib/libnn.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn.pc \
	    $(DESTDIR)$(PREFIX)/bin/nn $(DESTDIR)$(PREFIX)/lib/nn/nn-mpi.so \
	    $(DESTDIR)$(PREFIX)/share/man/man1/nn.1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nn
	-rmdir $(DESTDIR)$(PREFIX)/lib/nn $(DESTDIR)$(PREFIX)/include/nn 2>/dev/null

# libFuzzer targets: fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput; its seed
# corpus is fuzz/corpus/NAME/. `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_SRC     = $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN     = $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 60
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined

ifneq ($(BUILD),build-fuzz/lib)
build-fuzz/lib/libnn.a: FORCE
	$(MAKE) BUILD=build-fuzz/lib CC=clang OMP= OPT="-O1 -Wno-unknown-pragmas" \
	    SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" build-fuzz/lib/libnn.a
endif

build-fuzz/fuzz_%: fuzz/fuzz_%.c build-fuzz/lib/libnn.a
	clang -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc $(FUZZ_SAN) \
	    -fsanitize=fuzzer $< build-fuzz/lib/libnn.a -o $@ $(LIBS)

fuzz: deps $(FUZZ_BIN)
	@for b in $(FUZZ_BIN); do n=$${b#build-fuzz/fuzz_}; mkdir -p build-fuzz/corpus/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  if ! $$b -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build-fuzz/corpus/$$n \
	      fuzz/corpus/$$n > build-fuzz/$$n.log 2>&1; then \
	    tail -n 40 build-fuzz/$$n.log; echo "fuzz: $$n found a problem (build-fuzz/$$n.log)"; \
	    exit 1; fi; grep -E '^Done|DONE' build-fuzz/$$n.log | tail -n 1; done

.PHONY: FORCE
FORCE:

clean:
	rm -rf build build-asan build-ubsan build-cblas build-fuzz build-portable
