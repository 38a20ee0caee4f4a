#!/usr/bin/env bash
# The project's phase-2 ceremony, step by step (docs/ceremony.md).
#
#   run.sh init DIR PTAU [CIRCUITS]   coordinator: DIR/phase1.ptau and each
#                                     circuit's initial key DIR/<c>/0000.zkey
#   run.sh contribute DIR NAME        a contributor: one contribution to every
#                                     circuit (entropy from the OS; extra
#                                     entropy from stdin if VEIL_ENTROPY_STDIN=1)
#   run.sh beacon DIR HEX [EXP]       coordinator: the final beacon (a public
#                                     random value fixed after the last
#                                     contribution), writing DIR/<c>.zkey
#   run.sh finalize DIR [PARAMS]      coordinator: verify every transcript,
#                                     pin the keys in PARAMS (default params/),
#                                     install the proving keys, and write
#                                     DIR/transcript.txt
#   run.sh verify DIR [PARAMS]        anyone: re-check PARAMS against DIR
#
# CIRCUITS is a comma-separated list or "all" (the default). Contributions
# are strictly sequential: each step reads the newest key of each circuit
# and writes the next one; no step overwrites a file. $VEIL names the veil
# binary (default: veil on PATH).
set -euo pipefail

veil="${VEIL:-veil}"
die() { echo "run.sh: $*" >&2; exit 2; }

circuits_of() { cat "$1/circuits"; }

# The newest key of circuit $2 in ceremony $1, and the next index.
newest() { ls "$1/$2"/[0-9][0-9][0-9][0-9].zkey | sort | tail -n 1; }
next_name() {
    local last n
    last="$(basename "$(newest "$1" "$2")" .zkey)"
    n=$((10#$last + 1))
    printf '%s/%s/%04d.zkey' "$1" "$2" "$n"
}

cmd_init() {
    local dir="$1" ptau="$2" circuits="${3:-all}"
    [ -e "$dir/circuits" ] && die "$dir already holds a ceremony"
    if [ "$circuits" = all ]; then
        circuits="access,withdraw,settle_1,settle_8,settle_64,tree_insert_64"
    fi
    mkdir -p "$dir"
    cp "$ptau" "$dir/phase1.ptau"
    echo "$circuits" | tr ',' '\n' > "$dir/circuits"
    for c in $(circuits_of "$dir"); do
        mkdir -p "$dir/$c"
        "$veil" ceremony new --circuit "$c" --ptau "$dir/phase1.ptau" --out "$dir/$c/0000.zkey"
    done
}

cmd_contribute() {
    local dir="$1" name="$2" entropy=()
    [ -e "$dir/$(head -n 1 "$dir/circuits").zkey" ] && die "$dir is finished (beacon applied)"
    if [ "${VEIL_ENTROPY_STDIN:-0}" = 1 ]; then
        entropy=(--entropy-stdin)
        local extra; extra="$(cat)"
    fi
    for c in $(circuits_of "$dir"); do
        local in out
        in="$(newest "$dir" "$c")"; out="$(next_name "$dir" "$c")"
        if [ "${#entropy[@]}" -gt 0 ]; then
            printf '%s' "$extra" | "$veil" ceremony contribute --in "$in" --out "$out" --name "$name" "${entropy[@]}"
        else
            "$veil" ceremony contribute --in "$in" --out "$out" --name "$name" </dev/null
        fi
    done
}

cmd_beacon() {
    local dir="$1" hex="$2" exp="${3:-10}"
    for c in $(circuits_of "$dir"); do
        "$veil" ceremony beacon --in "$(newest "$dir" "$c")" --out "$dir/$c.zkey" \
            --beacon "$hex" --iterations-exp "$exp" --name "final beacon"
    done
}

cmd_finalize() {
    local dir="$1" params="${2:-params}" list
    list="$(paste -sd, "$dir/circuits")"
    "$veil" ceremony finalize --dir "$dir" --circuit "$list" --params-dir "$params"
}

cmd_verify() {
    local dir="$1" params="${2:-params}"
    "$veil" setup --verify "$dir" --circuit "$(paste -sd, "$dir/circuits")" --params-dir "$params"
}

[ $# -ge 2 ] || die "usage: run.sh init|contribute|beacon|finalize|verify DIR ..."
step="$1"; shift
case "$step" in
    init) [ $# -ge 2 ] || die "init DIR PTAU [CIRCUITS]"; cmd_init "$@" ;;
    contribute) [ $# -eq 2 ] || die "contribute DIR NAME"; cmd_contribute "$@" ;;
    beacon) [ $# -ge 2 ] || die "beacon DIR HEX [EXP]"; cmd_beacon "$@" ;;
    finalize) cmd_finalize "$@" ;;
    verify) cmd_verify "$@" ;;
    *) die "unknown step $step" ;;
esac
