# The two commands of the README:
#   make demo   set everything up, build, and serve the demo page
#   make test   set everything up, build, and run every test
#   make bench  (not one of the two) the benchmarks against peers, docs/BENCHMARKS.md
.PHONY: demo test bench setup build-web clean

setup:
	@bash scripts/setup.sh

build-web: setup
	@bash scripts/build-web.sh

demo: build-web
	@node scripts/serve.mjs $(or $(PORT),8080)

test: build-web
	@bash scripts/test.sh

# navaja against wllama, transformers.js and llama.cpp; writes docs/BENCHMARKS.md
bench: build-web
	@bash scripts/bench.sh

clean:
	rm -rf target pkg/dist
