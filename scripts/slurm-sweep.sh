#!/bin/sh
# Example: a convbp sweep split over a Slurm job array, one shard per task.
#   sbatch --array=1-8 scripts/slurm-sweep.sh resnet50
# then, once every task has finished:
#   scripts/merge results/resnet50_slurm.csv results/resnet50.shard*.csv
# (merge keeps an existing output, such as the committed results/resnet50.csv,
# unless given --force)
#SBATCH --job-name=convbp-sweep
#SBATCH --nodes=1
#SBATCH --exclusive
#SBATCH --time=04:00:00
set -eu
suite=${1:-resnet50}
k=${SLURM_ARRAY_TASK_ID:?run under sbatch --array}
n=${SLURM_ARRAY_TASK_COUNT:?run under sbatch --array}
cd "${SLURM_SUBMIT_DIR:-.}"
# --resume lets a requeued task pick up where it stopped.
exec ./build/convbp sweep --suite "$suite" --strategy all --threads all --bind compact \
  --shard "$k/$n" --resume --quiet --output "results/$suite.shard$k.csv"
