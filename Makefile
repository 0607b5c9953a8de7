# mixfs - a mix-job manager seen as a FUSE filesystem.
#
#   make              build ./mixfs
#   make test         install missing Debian packages (as root), build under
#                     ASan/UBSan, run the unit and integration tests
#   make demo         render a demo session, mount it, mix it, show it
#   make bench        benchmarks against peers measured in the same run
#   make soak         the crash loop at length: 30 SIGKILLs (CRASH_KILLS), and
#                     three hosts under random faults, 12 rounds (CLUSTER_ROUNDS)
#   make valgrind     the mount tests under valgrind (a plain build)
#   make fuzz         libFuzzer on the parsers, the names and stem loading (clang)
#   make tsan         the mount tests against a ThreadSanitizer build
#   make install      PREFIX=/usr/local DESTDIR= BINDIR=$(PREFIX)/bin MANDIR=$(PREFIX)/share/man

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

PKGS := fuse3 libcjson uuid sndfile soxr fftw3f libpq
# the unit tests also hold the engine's loudness to libebur128's
TEST_PKGS := cmocka libebur128
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wwrite-strings -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla \
	-Wundef -Wcast-qual
CFLAGS ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -Iinclude $(WARN) $(PKG_CFLAGS) $(CFLAGS)
LIBS = $(PKG_LIBS) -lm -lpthread

# SANITIZE=address,undefined builds everything with those sanitizers.
ifdef SANITIZE
# test builds also check the job cache's invariants after every change
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all -DMIXFS_CHECK
LDFLAGS += -fsanitize=$(SANITIZE)
endif

B ?= build/rel
LIB_SRC := $(sort $(wildcard src/util/*.c src/job/*.c src/pg/*.c src/core/*.c src/audio/*.c src/fs/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CTL_SRC := $(sort $(wildcard src/ctl/*.c))
CTL_OBJ := $(CTL_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.DELETE_ON_ERROR:

.PHONY: all deps test check unit integration demo bench fuzz fuzz-replay soak valgrind tsan install check-globals \
	uninstall clean check-layers

all: mixfs mixctl

mixfs: $(B)/mixfs
	cp $< $@

mixctl: $(B)/mixctl
	cp $< $@

# mixctl reads the tree only; of the library it uses the job record's reader
$(B)/mixctl: $(CTL_OBJ) $(B)/libmixfs.a
	@echo "LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/mixfs: $(B)/src/main.o $(B)/libmixfs.a
	@echo "LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/libmixfs.a: $(LIB_OBJ)
	@$(AR) rcs $@ $^

$(B)/%.o: %.c $(wildcard include/mixfs/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(B)/libmixfs.a
	@mkdir -p $(dir $@)
	@echo "CC $@"
	@$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(TEST_PKGS)) $(LDFLAGS) -o $@ $< \
		$(B)/libmixfs.a $(LIBS) $(shell pkg-config --libs $(TEST_PKGS))

deps:
	@tools/deps.sh build

# The test build: everything under ASan and UBSan, in its own folder.
test:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory check B=build/san SANITIZE=address,undefined CFLAGS="-O1 -g"

check: check-layers check-globals unit fuzz-replay integration

# no file-scope mutable variable in the FUSE layer: its state is one object
check-globals: $(filter $(B)/src/fs/%,$(LIB_OBJ))
	@tools/check-globals.sh $^

# every committed fuzz corpus, replayed once under the sanitizers
fuzz-replay:
	@CC=$(CC) tests/fuzz/run.sh replay

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; \
		case $$t in *test_pgstore) tests/lib/with_pg.sh $$t ;; *) $$t ;; esac; done

# MIXFS_INSTALL: how a case installs this very build into a DESTDIR
integration: $(B)/mixfs $(B)/mixctl
	@MIXFS=$(abspath $(B)/mixfs) MIXCTL=$(abspath $(B)/mixctl) \
		MIXFS_INSTALL='$(MAKE) --no-print-directory -s -C $(abspath .) B=$(B) SANITIZE=$(SANITIZE) CFLAGS="$(CFLAGS)" install' \
		tests/integration/run.sh

check-layers:
	@tools/check-layers.sh

demo:
	@tools/deps.sh demo
	@$(MAKE) --no-print-directory mixfs
	@tools/demo.sh ./mixfs

bench:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory B=build/bench CFLAGS="-O2 -g" build/bench/mixfs build/bench/libmixfs.a
	@B=build/bench bench/run.sh

fuzz:
	@tests/fuzz/run.sh

soak:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory B=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" build/san/mixfs
	@CRASH_KILLS=$${CRASH_KILLS:-30} MIXFS=$(abspath build/san/mixfs) prove -v --timer tests/integration/t_crash.sh \
		tests/soak/cluster_soak.sh

# valgrind needs a build without sanitizers; the daemon runs under it
valgrind:
	@tools/deps.sh test
	@command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
	@$(MAKE) --no-print-directory B=build/vg CFLAGS="-O1 -g" build/vg/mixfs
	@MIXFS=$(abspath tools/valgrind-mixfs) MIXFS_REAL=$(abspath build/vg/mixfs) \
		prove -v --timer tests/integration/t_tree.sh tests/integration/t_faults.sh \
		tests/integration/t_load.sh

tsan:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory B=build/tsan SANITIZE=thread CFLAGS="-O1 -g" build/tsan/mixfs
	@TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp)" MIXFS=$(abspath build/tsan/mixfs) \
		tests/integration/run.sh

# the binaries of build $(B) (build/rel unless told)
install: $(B)/mixfs $(B)/mixctl
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(B)/mixfs $(DESTDIR)$(BINDIR)/mixfs
	install -m 755 $(B)/mixctl $(DESTDIR)$(BINDIR)/mixctl
	install -m 644 man/mixfs.1 $(DESTDIR)$(MANDIR)/man1/mixfs.1
	install -m 644 man/mixctl.1 $(DESTDIR)$(MANDIR)/man1/mixctl.1
	install -m 644 man/mixfs-request.5 $(DESTDIR)$(MANDIR)/man5/mixfs-request.5

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mixfs $(DESTDIR)$(BINDIR)/mixctl \
		$(DESTDIR)$(MANDIR)/man1/mixfs.1 $(DESTDIR)$(MANDIR)/man1/mixctl.1 \
		$(DESTDIR)$(MANDIR)/man5/mixfs-request.5

clean:
	rm -rf build mixfs mixctl
