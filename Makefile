# imip.server: the two commands of the README's quick start are `make lab` and `make test`.
# Every target installs what it needs (system packages when run as root on Debian, the pinned
# Python toolchain in .venv) and says clearly what is missing otherwise.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
CACHE := $(ROOT)/.cache
# The collection must sit under ansible_collections/imip/server for Ansible and ansible-test.
COLLECTIONS := $(CACHE)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/imip/server
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
SCENARIO ?=

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS):$(HOME)/.ansible/collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export CONTAINERS_CONF := $(ROOT)/tools/lab/containers.conf
# Scenarios live in molecule/ (the layout users asked for), not in extensions/molecule/.
export MOLECULE_GLOB := molecule/*/molecule.yml

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up
.PHONY: system-deps venv collection-link
system-deps: venv ## Install the Debian packages the lab and tests need (bindep.txt, profile test; root on Debian)
	@VENV=$(VENV) tools/install-system-deps

# requirements-dev.txt includes requirements.txt (the controller's runtime needs): an existing
# .venv only gets what is missing (pip install is additive), it is never recreated here. It holds
# nox too: the checks are nox sessions (noxfile.py), which find the other Pythons they need.
$(VENV)/.installed: requirements.txt requirements-dev.txt tools/find-python
	@tools/install-system-deps --python
	@py=$$(tools/find-python); echo "venv: $$py"; \
	  [ -x $(VENV)/bin/python ] || $$py -m venv $(VENV); \
	  $(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned toolchain (requirements-dev.txt)

collection-link: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	@mkdir -p $(dir $@) && ln -sfn $(ROOT) $@

# ---------------------------------------------------------------- lab
.PHONY: lab lab-down images
images: system-deps ## Build the bookworm and trixie lab images when missing
	@tools/lab/lab images

lab: system-deps venv collection-link ## Build what is missing, start the four-host lab, converge it with site.yml
	@tools/lab/lab up inventories/lab
	@tools/lab/lab converge inventories/lab

lab-down: ## Stop and remove the lab (containers, networks, route); images stay
	@tools/lab/lab down inventories/lab

# ---------------------------------------------------------------- tests
.PHONY: test lint unit gateway-test sanity compat molecule molecule-all
test: system-deps venv collection-link ## Lint, unit tests, sanity, every Molecule scenario
	@tools/run-tests

lint: venv collection-link ## yamllint and ansible-lint (production profile): nox -s lint
	nox -s lint

unit: system-deps venv collection-link ## Unit tests (pytest, tests/unit): nox -s unit
	nox -s unit

gateway-test: venv ## The iMIP gateway package's tests (gateway/tests) in .cache/nox/gateway: nox -s gateway
	nox -s gateway

sanity: venv collection-link ## ansible-test sanity on the collection: nox -s sanity
	nox -s sanity

molecule: system-deps venv collection-link ## One scenario: make molecule SCENARIO=<name>
	@[ -n "$(SCENARIO)" ] || { echo "usage: make molecule SCENARIO=<one of: $(SCENARIOS)>"; exit 2; }
	@tools/lab/lab images
	molecule test -s $(SCENARIO)

compat: venv collection-link ## Unit + sanity on ansible-core 2.19/Python 3.11; hash tests with Debian 12/13's passlib and bcrypt: nox -t compat
	nox -t compat

# ---------------------------------------------------------------- AWX / execution environment
.PHONY: ee drift-job
ee: venv images ## Build the execution environment image (ansible-builder, base image without a registry)
	tools/ee/build image

drift-job: venv ## The scheduled drift job as AWX runs it: make drift-job INVENTORY=<path> [LIMIT=<hosts>]
	@[ -n "$(INVENTORY)" ] || { echo "usage: make drift-job INVENTORY=<inventory> [LIMIT=<hosts>]"; exit 2; }
	tools/drift-job --inventory $(INVENTORY) $(if $(LIMIT),--limit $(LIMIT))

# ---------------------------------------------------------------- release
.PHONY: changelog
changelog: venv collection-link ## Regenerate changelogs/changelog.yaml and CHANGELOG.md from the fragments
	antsibull-changelog release --refresh-fragments --update-existing

.PHONY: clean
clean: ## Remove caches (not the venv, not the images)
	rm -rf $(CACHE) tests/output .pytest_cache
