# birq-fairseq: `make demo` runs the whole recipe on the embedded demo corpus,
# `make test` runs the test suite. Both install what they need first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SYSTEM_PACKAGES := espeak-ng sox pocketsphinx-testdata asterisk-core-sounds-en-wav \
	asterisk-core-sounds-en g++
FAIRSEQ_WHEEL := ve-fairseq==0.12.3
DEMO_RESULTS := results/demo
PRETRAIN_CONFIG ?= birq_demo
# Data-parallel CPU processes with one intra-op thread each: on small CPU models a second
# thread in one process mostly waits, a second process does not.
DEMO_PROCS ?= 2
DEMO_THREADS ?= 1
DEMO_TRAIN := OMP_NUM_THREADS=$(DEMO_THREADS) $(PY) -m birq_fairseq.cpu_ddp -n $(DEMO_PROCS) --
DEMO_LM := data/demo/lm/train_3gram.arpa
# LM weight and word score chosen on the demo's valid split (WER 23.4 vs 57.1 greedy).
DEMO_LM_OPTIONS := --ctc-decoder beam --lm-path $(DEMO_LM) --lm-weight 0.5 --word-score 1.0 \
	--beam 50

.PHONY: install system-deps test test-fast lint demo demo-corpus demo-pretrain \
	demo-finetune demo-lm demo-evaluate demo-label-quality study-corpus clean-demo \
	offline-wheels

install: $(INSTALLED)

# fairseq comes from the ve-fairseq wheel, installed without its declared
# dependencies: its torchaudio requirement pulls a CUDA build that cannot import
# beside the CPU torch, and nothing on the wav2vec code paths imports torchaudio.
$(INSTALLED): requirements.txt requirements-dev.txt setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps $(FAIRSEQ_WHEEL)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# Debian packages that hold the demo and test speech (and espeak-ng for synthetic speech),
# and g++ for the kenlm module of the LM-decoding extra, which pip compiles. Listed first
# in the targets below so that they are there before `install` builds kenlm.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "missing Debian packages:$$missing"; \
			echo "install them with: sudo apt-get install$$missing"; exit 1; \
		fi; \
	fi

# One test file per worker process, one worker per core (at most TEST_WORKERS): the suite is
# mostly single-threaded fairseq start-ups, so two cores finish it in about half the time.
# A file stays on one worker, so its module fixtures (a pretrained checkpoint) are built once.
TEST_WORKERS ?= 4
PYTEST_PARALLEL := -n auto --maxprocesses=$(TEST_WORKERS) --dist loadfile

test: system-deps install
	$(PY) -m pytest $(PYTEST_PARALLEL)

test-fast: system-deps install
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow"

lint: install
	$(BIN)/ruff check .

# Wheels for a GPU machine without a network (examples/benchmarks/README.md); its Python
# version in OFFLINE_PYTHON.
OFFLINE_PYTHON ?= 3.12
offline-wheels:
	bash examples/benchmarks/offline_wheels.sh $(OFFLINE_PYTHON) .whl

demo-corpus: system-deps install
	$(PY) -m birq_fairseq.data.demo_corpus --audio-out data/demo --manifests manifests/demo

demo-pretrain: demo-corpus
	$(DEMO_TRAIN) --config-dir config/pretraining --config-name $(PRETRAIN_CONFIG)

demo-finetune: demo-pretrain
	$(DEMO_TRAIN) model.w2v_path=checkpoints/$(PRETRAIN_CONFIG)/checkpoint_last.pt \
		checkpoint.save_dir=checkpoints/finetune_$(PRETRAIN_CONFIG) \
		--config-dir config/finetuning --config-name demo

# A word 3-gram of the fine-tuning transcripts only (no test text).
demo-lm: demo-corpus
	$(PY) -m birq_fairseq.lm.build_arpa --order 3 --out $(DEMO_LM) manifests/demo/finetune/train.wrd

demo-evaluate: demo-finetune demo-lm
	@for split in test_synth test_real; do \
		for decoder in greedy lm; do \
			options="--ctc-decoder greedy"; [ $$decoder = lm ] && options="$(DEMO_LM_OPTIONS)"; \
			$(BIN)/fairseq-generate manifests/demo/finetune --user-dir birq_fairseq \
				--task birq_ctc_eval --path checkpoints/finetune_$(PRETRAIN_CONFIG)/checkpoint_best.pt \
				--gen-subset $$split --scoring wer --post-process letter --max-tokens 4000000 \
				--results-path $(DEMO_RESULTS)/$(PRETRAIN_CONFIG)/$$decoder $$options || exit 1; \
		done; \
	done
	@echo; for split in test_synth test_real; do for decoder in greedy lm; do \
		printf "%-11s %-7s " $$split $$decoder; \
		tail -n 1 $(DEMO_RESULTS)/$(PRETRAIN_CONFIG)/$$decoder/generate-$$split.txt; \
	done; done

# What the pretrained labels and layers know about phones, beside a random-init twin of the
# same model (PocketSphinx alignments of the real test speech); the two run side by side.
DEMO_LABEL_QUALITY := $(DEMO_RESULTS)/$(PRETRAIN_CONFIG)/label_quality
LABEL_QUALITY := OMP_NUM_THREADS=1 $(PY) -m birq_fairseq.label_quality
LABEL_QUALITY_OPTIONS := manifests/demo/finetune test_real --kmeans 100
demo-label-quality: demo-pretrain
	@mkdir -p $(DEMO_LABEL_QUALITY)
	@$(LABEL_QUALITY) checkpoints/$(PRETRAIN_CONFIG)/checkpoint_last.pt $(LABEL_QUALITY_OPTIONS) \
		--json $(DEMO_LABEL_QUALITY)/pretrained.json > $(DEMO_LABEL_QUALITY)/pretrained.txt & \
	pretrained=$$!; \
	$(LABEL_QUALITY) config/pretraining/$(PRETRAIN_CONFIG).yaml $(LABEL_QUALITY_OPTIONS) \
		--json $(DEMO_LABEL_QUALITY)/random_init.json > $(DEMO_LABEL_QUALITY)/random_init.txt \
		&& wait $$pretrained
	@echo; echo "label quality of $(PRETRAIN_CONFIG) (tables: $(DEMO_LABEL_QUALITY)/*.txt)"
	@$(PY) -m birq_fairseq.label_quality.compare $(DEMO_LABEL_QUALITY)/pretrained.json \
		$(DEMO_LABEL_QUALITY)/random_init.json --names pretrained "random init"

demo: demo-evaluate demo-label-quality

# The small-scale study's corpus (>= 10 h unlabelled, 10 min / 1 h labelled; about 10 minutes
# on 2 cores, 1.7 GB): the prompts of four more languages and Debian's fortunes as extra text.
STUDY_PACKAGES := asterisk-core-sounds-es-wav asterisk-core-sounds-es asterisk-core-sounds-fr-wav \
	asterisk-core-sounds-fr asterisk-core-sounds-it-wav asterisk-core-sounds-it \
	asterisk-core-sounds-ru-wav asterisk-core-sounds-ru fortunes-min fortunes
study-corpus: system-deps install
	@missing=""; for p in $(STUDY_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi
	$(PY) -m birq_fairseq.data.study_corpus --out data/study

clean-demo:
	rm -rf data/demo manifests/demo checkpoints/birq_demo checkpoints/bestrq_demo \
		checkpoints/finetune_birq_demo checkpoints/finetune_bestrq_demo $(DEMO_RESULTS)
