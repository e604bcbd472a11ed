# llm-relay - GNU make build.
#   make               binaries: cgi-bin/{call,status,queue_status,docs,console}, bin/{queue_worker,relayctl}
#   make test          unit (cmocka) + integration tests, ends with a summary line
#   make SANITIZE=1    ASan+UBSan build (objects in build-san/)
#   make WERROR=1      warnings are errors (CI)
#   make fuzz          libFuzzer targets (clang) in build-fuzz/
#   make install       honours DESTDIR and PREFIX
#   make docs          docs/ops/configuration.md and relay.conf.example from cfg_opts[]
#   make deb           llm-relay_<version>_<arch>.deb (debian/, tools/deb.sh), lintian-checked

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKGS     := fcgi json-c libmariadb libcurl libcrypto
# Asked only when a goal compiles: `make run` installs the packages first
# (tools/deps.sh), so asking pkg-config while parsing printed "Package fcgi
# was not found" on a fresh machine before that install.
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out run stop,$(MAKECMDGOALS)),)
NO_PKG_CONFIG := 1
endif
endif
ifneq ($(NO_PKG_CONFIG),1)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

WARN := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
        -Wformat=2 -Wvla -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif

ifeq ($(SANITIZE),1)
BUILD   := build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN   := -fsanitize=address,undefined
else
BUILD   := build
OPT     := -O2 -g -D_FORTIFY_SOURCE=2
LDSAN   :=
endif

CFLAGS  ?=
# src/<layer>/: a folder per layer, lowest first (tools/layers.sh checks
# that a file includes only its own layer and those below it). Headers are
# named by file, as nginx's are: every folder is on the include path.
LAYERS   := core proto xlate io meter relay admin ops doors console ctl main
SRC_DIRS := $(addprefix src/,$(LAYERS))
vpath %.c $(SRC_DIRS)
CPPFLAGS += -D_GNU_SOURCE $(addprefix -I,$(SRC_DIRS)) -I$(BUILD)
ALL_CFLAGS = $(WARN) $(OPT) -pthread -fstack-protector-strong -fPIE $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
LDFLAGS_ALL = -pthread -pie -Wl,-z,relro,-z,now $(LDSAN) $(LDFLAGS)

MAINS    := $(wildcard src/main/main_*.c)
LIB_SRC  := $(filter-out $(MAINS),$(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(notdir $(LIB_SRC))) $(BUILD)/migrations.o $(BUILD)/templates.o
LIB      := $(BUILD)/librelay.a

WEB_BINS := cgi-bin/call cgi-bin/status cgi-bin/queue_status cgi-bin/docs cgi-bin/v1 cgi-bin/console cgi-bin/metrics
CLI_BINS := bin/queue_worker bin/relayctl bin/meterd
BINS     := $(WEB_BINS) $(CLI_BINS)
# bench/run's lower bounds (bench/floor.c), built with everything else so
# they always compile; never installed.
FLOOR_BINS := $(BUILD)/bench/floor-answer $(BUILD)/bench/floor-forward
# bench/xlate.c: the translator's per-event cost (issue 14), same idea
FLOOR_BINS += $(BUILD)/bench/xlate
# tools/cfgdoc.c: the configuration reference printed from cfg_opts[]
CFGDOC := $(BUILD)/tools/cfgdoc

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all clean test unit integration install fuzz fuzz-run run stop bench cppcheck valgrind valgrind-all check docs deb
all: $(BINS) $(FLOOR_BINS) $(CFGDOC)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# The schema migrations and the routines are compiled into the binaries so
# relayctl migrate needs no path (docs/design/sql-routines.md).
SQL_FILES := $(wildcard sql/schema/*.sql sql/routines/*.sql)
# The list of files counts too: a renamed or removed file leaves every
# mtime older than the last embed, so the list is kept in a stamp that
# changes only when the list does.
$(BUILD)/sql.list: FORCE
	@mkdir -p $(@D)
	@ls sql/schema sql/routines | cmp -s - $@ || ls sql/schema sql/routines > $@

$(BUILD)/migrations.c: $(SQL_FILES) $(BUILD)/sql.list tools/embed-sql.sh
	@mkdir -p $(@D)
	sh tools/embed-sql.sh sql/schema sql/routines > $@.tmp && mv $@.tmp $@

$(BUILD)/migrations.o: $(BUILD)/migrations.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Wno-overlength-strings -c $< -o $@

# Templates are compiled in too; $RELAY_TEMPLATES overrides them at run time.
$(BUILD)/templates.c: $(sort $(wildcard templates/*.html)) tools/embed-templates.sh
	@mkdir -p $(@D)
	sh tools/embed-templates.sh $(sort $(wildcard templates/*.html)) > $@.tmp && mv $@.tmp $@

$(BUILD)/templates.o: $(BUILD)/templates.c
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# The binaries live in cgi-bin/ and bin/ whatever the flavour (normal or
# sanitized): .flavour records which one was linked there last, so switching
# relinks and a repeated `make` does nothing.
FLAVOUR := .flavour
$(FLAVOUR): FORCE
	@echo $(BUILD) | cmp -s - $@ || echo $(BUILD) > $@

cgi-bin/%: $(BUILD)/main_%.o $(LIB) $(FLAVOUR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(BUILD)/main_$*.o $(LIB) $(PKG_LIBS) $(EXTRA_LIBS) $(LDFLAGS_ALL) -o $@

bin/%: $(BUILD)/main_%.o $(LIB) $(FLAVOUR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(BUILD)/main_$*.o $(LIB) $(PKG_LIBS) $(EXTRA_LIBS) $(LDFLAGS_ALL) -o $@

.PHONY: FORCE
FORCE:

# Console passwords use libcrypt's crypt_r (src/cpw.c): only the binaries
# that reach cpw.o link it.
CRYPT_LIBS := -lcrypt
cgi-bin/console bin/relayctl $(BUILD)/tests/test_cpw: EXTRA_LIBS := $(CRYPT_LIBS)

$(BUILD)/bench/floor-answer: bench/floor.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DFLOOR_FORWARD=0 $< $(LIB) $(PKG_LIBS) $(LDFLAGS_ALL) -o $@

$(BUILD)/bench/floor-forward: bench/floor.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DFLOOR_FORWARD=1 $< $(LIB) $(PKG_LIBS) $(LDFLAGS_ALL) -o $@

$(BUILD)/bench/xlate: bench/xlate.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< $(LIB) $(PKG_LIBS) $(LDFLAGS_ALL) -o $@

$(CFGDOC): tools/cfgdoc.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< $(LIB) $(PKG_LIBS) $(LDFLAGS_ALL) -o $@

# The configuration reference and the example config, generated from
# cfg_opts[] (src/core/cfg.c); tests/integration/test_docs.py fails when
# the committed files differ from what cfgdoc prints.
docs: $(CFGDOC)
	@mkdir -p docs/ops
	$(CFGDOC) markdown > docs/ops/configuration.md.tmp && mv docs/ops/configuration.md.tmp docs/ops/configuration.md
	$(CFGDOC) example > relay.conf.example.tmp && mv relay.conf.example.tmp relay.conf.example

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< $(LIB) $(PKG_LIBS) $(EXTRA_LIBS) $(shell pkg-config --libs cmocka) $(LDFLAGS_ALL) -o $@

unit: $(UNIT_BIN)
	sh tests/unit/run.sh $(UNIT_BIN)

integration: $(BINS)
	python3 tests/integration/run.py

test:
	sh tests/run-all.sh $(if $(filter 1,$(SANITIZE)),SANITIZE=1)

# ---- fuzzing (clang + libFuzzer) ----
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_MODS := meterw acl skel buf err sse jkeys sopt bmatch fmt cfg qs tmpl cookie route hdrpass tokest web log xlate xlreq xlresp xsse xlrs xrsse clip xljson imp apikey audit db sha256 secret allow
FUZZ_LIB_SRC := $(foreach m,$(FUZZ_MODS),$(wildcard $(addsuffix /$(m).c,$(SRC_DIRS))))
FUZZ_TIME ?= 60
fuzz: $(FUZZ_BIN)
build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(@D)
	clang -g -O1 -D_GNU_SOURCE $(addprefix -I,$(SRC_DIRS)) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS) $< $(FUZZ_LIB_SRC) $(PKG_LIBS) -o $@
fuzz-run: fuzz
	sh tests/fuzz/run.sh $(FUZZ_TIME)

# The layering (tools/layers.py): no include of a higher layer, no include
# or call loop between modules (the calls read from the objects).
check: all
	python3 tools/layers.py $(filter-out $(BUILD)/migrations.o $(BUILD)/templates.o,$(LIB_OBJ))

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance --std=c11 --inline-suppr -D_GNU_SOURCE $(addprefix -I,$(SRC_DIRS)) src bench

# The request paths under valgrind, every binary through CGI, FastCGI and
# both web servers (definite leaks and memory errors fail the test): what CI
# runs, about 8 minutes. `make valgrind-all` adds relayctl, status.php, the
# hardening, the console API, /metrics, log retention, the rest of the
# dispatcher and queue tests, the huge stream and the backend pool (about 25
# minutes). Left out of both: test_deploy and the
# demo (they start their own copies of the binaries), the harness's
# self-tests, the npm clients (the same C paths as test_v1 and test_web), and
# the MariaDB restart with 20 waiters (20 processes starting under valgrind
# outlast the restart it is about). The 4-slot drain (the same worker and
# dispatcher paths as the queue and streaming-waiter tests) is in
# valgrind-all only, to keep CI under 30 minutes.
VALGRIND_TESTS ?= test_meterd.py::test_meterd_every,test_meterd.py::test_meterd_killed,test_meterd.py::test_meterd_sigterm,test_meterd.py::test_meterd_rejects,test_meterd.py::test_meterd_fast_path,test_meterd.py::test_meterd_gone,test_call.py,test_stream.py,test_web.py,test_v1.py,test_faults.py::test_database,test_faults.py::test_upstream,test_faults.py::test_slow,test_faults.py::test_client,test_queue.py::test_busy_slot,test_queue.py::test_stream_item,test_queue.py::test_two_workers,test_queue.py::test_worker_killed,test_queue.py::test_worker_wakes,test_dispatch.py::test_streaming,test_dispatch.py::test_disconnect,test_backends.py::test_failover_on_503,test_backends.py::test_model_routing,test_xlate.py::test_xlate_tool_round_trip,test_durable.py::test_durable_every_admitted
VALGRIND_ALL := test_admin,test_status,test_backends,test_metrics,test_retention,test_call.py,test_stream.py,test_queue.py,test_web.py,test_faults.py,test_hardening,test_v1.py,test_console_api,test_dispatch.py::test_four,test_dispatch.py::test_inline,test_dispatch.py::test_direct,test_dispatch.py::test_wait,test_dispatch.py::test_streaming,test_dispatch.py::test_disconnect,test_dispatch.py::test_user,test_dispatch.py::test_two
valgrind: all
	VALGRIND=1 python3 tests/integration/run.py -k $(VALGRIND_TESTS)
valgrind-all: all
	VALGRIND=1 python3 tests/integration/run.py -k $(VALGRIND_ALL)

clean:
	rm -rf build build-san build-fuzz build-deb $(BINS) $(FLAVOUR)

# The Debian package, built from a copy of the tree (tools/deb.sh says why).
deb:
	sh tools/deb.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/llm-relay/cgi-bin $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/share/llm-relay/sql/schema $(DESTDIR)$(PREFIX)/share/llm-relay/sql/routines \
	  $(DESTDIR)$(PREFIX)/share/llm-relay/templates \
	  $(DESTDIR)$(PREFIX)/share/llm-relay/examples
	install -m 0755 $(WEB_BINS) $(DESTDIR)$(PREFIX)/lib/llm-relay/cgi-bin/
	install -m 0755 $(CLI_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 sql/schema/*.sql $(DESTDIR)$(PREFIX)/share/llm-relay/sql/schema/
	install -m 0644 sql/routines/*.sql $(DESTDIR)$(PREFIX)/share/llm-relay/sql/routines/
	-install -m 0644 templates/* $(DESTDIR)$(PREFIX)/share/llm-relay/templates/
	install -m 0600 relay.conf.example $(DESTDIR)$(PREFIX)/share/llm-relay/examples/relay.conf
	-install -m 0644 apache.conf lighttpd.conf cron/llm-relay tools/mariadb-relay.cnf $(DESTDIR)$(PREFIX)/share/llm-relay/examples/

run:
	sh tools/run.sh start
stop:
	sh tools/run.sh stop
bench: all
	python3 bench/run

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d $(BUILD)/tools/*.d)
