# SPDX-License-Identifier: ISC
#
# peer_args.sh: sourced by bench_prep.sh and bench_prep2.sh, the options
# they share and the Python that runs their peers.
#   peer_args NAME RUNS "$@"  sets runs (default RUNS), threads and
#                             processor from --runs, --threads and
#                             --py-processor, or exits with the usage
#   peer_python MODULES       prints a python3 that can import MODULES
#                             ("PIL, torchvision"), or fails

peer_args() {
	name=$1
	runs=$2
	shift 2
	threads=
	processor=
	while [ $# -gt 0 ]; do
		case $1 in
		--runs) runs=$2; shift 2 ;;
		--threads) threads=$2; shift 2 ;;
		--py-processor) processor=$2; shift 2 ;;
		*) echo "usage: $name [--runs N] [--threads N] [--py-processor FILE]"; exit 2 ;;
		esac
	done
	[ -z "$processor" ] || [ -f "$processor" ] || { echo "$name: $processor: no such file"; exit 1; }
}

peer_python() {
	for p in python3 /usr/bin/python3; do
		command -v "$p" >/dev/null 2>&1 && "$p" -c "import $1" 2>/dev/null && { echo "$p"; return 0; }
	done
	return 1
}
