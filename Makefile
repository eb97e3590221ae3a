# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv and
# installs what it needs the first time.
VENV ?= .venv
PY := $(VENV)/bin/python
RTAG := $(VENV)/bin/rtag
STAMP := $(VENV)/.installed
# torch and torchvision that work together; override for another platform, e.g.
#   make demo TORCH="torch==2.9.1 torchvision==0.24.1"
TORCH ?= torch==2.14.1 torchvision==0.29.1
FACETS := gender,masterCategory,subCategory,articleType,baseColour,season,usage
DEMO := demo/fashion_sample

.PHONY: demo test serve install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(RTAG) index $(DEMO)/catalog.csv --name demo --text-cols title --image-col image --facet-cols $(FACETS) --force
	$(RTAG) tag --index demo $(DEMO)/dev.csv --top-n 7 --output indexes/demo-dev-tags.jsonl
	$(RTAG) eval --index demo $(DEMO)/dev.csv --examples 8
	$(RTAG) vocab add --index demo $(DEMO)/taxonomy.txt --name shop-taxonomy --force
	$(RTAG) tag --index demo --vocab shop-taxonomy --mode zeroshot --text "Puma Men Black Running Shoes"
# Chinese titles against the English catalog, by a multilingual text model (README: Languages)
	$(RTAG) index $(DEMO)/catalog.csv --name demo-multilingual --text-cols title --facet-cols $(FACETS) --text-model use-multilingual --image-model none --force
	$(RTAG) tag --index demo-multilingual --text "Puma 男士黑色跑步鞋" --top-n 4
	$(RTAG) vocab add --index demo-multilingual $(DEMO)/zh_facets.txt --name zh-facets --force
	$(RTAG) tag --index demo-multilingual --vocab zh-facets --mode zeroshot --text "Puma 女士粉色连衣裙"

serve: $(STAMP)
	$(RTAG) serve --index demo

# the page test drives a real browser: Debian's chromium, installed (as root) when missing
CHROMIUM ?= /usr/bin/chromium

test: $(STAMP) $(CHROMIUM)
	RTAG_NO_PROGRESS=1 RTAG_REQUIRE_BROWSER=1 RTAG_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q

$(CHROMIUM):
	apt-get update -q && apt-get install -y -q chromium

clean:
	rm -rf $(VENV) indexes/demo indexes/demo-multilingual indexes/demo-dev-tags.jsonl
