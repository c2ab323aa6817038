#!/bin/sh
# A pretend training program for Stratum: it needs nothing but a POSIX shell and awk.
#
#   sh train.sh [--steps 60] [--step-seconds 0.5] [--checkpoint-every 10]
#
# It prints one line per step ("step 41 loss 0.8123") and keeps checkpoints in
# $STRATUM_CHECKPOINT_DIR (./checkpoints when run by hand): a file step-NNNNNN.ckpt holding the step
# and the loss, written to a temporary name and renamed, so a reader never sees half a checkpoint.
# On start it resumes from the newest checkpoint, so a restarted job continues where it stopped.
#
# On SIGTERM (cancel, preemption, max runtime) it writes a checkpoint of the last finished step and
# exits 143 (128 + SIGTERM), the conventional "terminated by a signal" status. Exiting 0 would look
# like a finished training run to anything that reads exit codes; 143 says "stopped on request,
# state saved", and Stratum, which sent the signal, records the attempt as Preempted or Cancelled.
set -eu

steps=60
step_seconds=0.5
checkpoint_every=10

while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --step-seconds) step_seconds="$2"; shift 2 ;;
        --checkpoint-every) checkpoint_every="$2"; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "train.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

checkpoint_dir="${STRATUM_CHECKPOINT_DIR:-./checkpoints}"
mkdir -p "$checkpoint_dir"

# A loss that falls with the step, the same for the same step, so a resumed run continues the curve.
loss_at() {
    awk -v s="$1" 'BEGIN { printf "%.4f", 0.05 + 2.3 * exp(-s / 25) + 0.01 * sin(s) }'
}

checkpoint() {
    file=$(printf '%s/step-%06d.ckpt' "$checkpoint_dir" "$1")
    printf 'step=%s\nloss=%s\n' "$1" "$(loss_at "$1")" > "$file.tmp"
    mv "$file.tmp" "$file"
    echo "checkpoint $file"
}

# The newest checkpoint sorts last: the step is zero-padded.
step=0
latest=$(ls "$checkpoint_dir"/step-*.ckpt 2>/dev/null | sort | tail -n 1 || true)
if [ -n "$latest" ]; then
    step=$(sed -n 's/^step=//p' "$latest")
    echo "resuming from step $step ($latest, loss $(sed -n 's/^loss=//p' "$latest"))"
else
    echo "starting from scratch: $steps steps, checkpoint every $checkpoint_every"
fi

on_term() {
    echo "SIGTERM at step $step: checkpointing before exit"
    checkpoint "$step"
    exit 143
}
trap on_term TERM

while [ "$step" -lt "$steps" ]; do
    # Sleep in the background and wait, so a SIGTERM is handled at once rather than after the sleep.
    sleep "$step_seconds" &
    wait $! || true
    step=$((step + 1))
    echo "step $step loss $(loss_at "$step")"
    if [ $((step % checkpoint_every)) -eq 0 ]; then
        checkpoint "$step"
    fi
done

echo "done: $steps steps, final loss $(loss_at "$steps")"
