#!/bin/sh
# One step of `git bisect run`: A/B the commit under test against a known-good one.
#
#   cp bench/bisect_step.sh /tmp/     # older commits may not have this file
#   git bisect start BAD GOOD
#   git bisect run /tmp/bisect_step.sh GOOD --profile quick -k "mlp-b64-adamw.forloop"
#   git bisect reset
#
# Exit codes map hellotorch's onto git bisect's: 0 (no regression) good,
# 1 (regression or failed case) bad, 2 (this commit cannot run the request)
# skip (125), anything else (interrupted) stops the bisection.
# HELLOTORCH_DRIVER names the interpreter that runs `ab` itself (default
# python3): when bisecting hellotorch, point PYTHONPATH at a fixed checkout so
# the driver does not change under the bisection; each side still runs its
# own commit's code.
good="$1"
shift
out="${TMPDIR:-/tmp}/hellotorch-bisect-$(git rev-parse --short HEAD)"
rm -rf "$out"
"${HELLOTORCH_DRIVER:-python3}" -m hellotorch ab --base "$good" --head HEAD --output "$out" --history "$out/history.sqlite" "$@"
code=$?
case "$code" in
  0 | 1) exit "$code" ;;
  2) exit 125 ;;
  *) exit 255 ;;
esac
