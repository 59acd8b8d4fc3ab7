#!/bin/sh
# sine.sh - the lectures' sine regression, with the nn program:
#   1. N noisy samples of sin(2 pi x) on [0, 1] (seeded), written to sine.csv;
#   2. one tanh hidden layer of M = 1, 3 and 10 units, squared error,
#      full-batch, and a plot of the three fitted curves over the data;
#   3. nn sweep over M = 1..12 with 30 restarts on a held-out validation
#      split, the validation scatter plot, and the M it chooses.
# Usage: examples/sine.sh [--quick] [OUT_DIR]   (NN=path/to/nn, default build/nn)
# --quick: fewer epochs, M in {1, 3, 10} and 3 restarts (for make check).
# The optimizer: L-BFGS with a strong Wolfe line search, the full-batch
# method such fits use (each epoch is one L-BFGS step of up to 20
# iterations); OPTIM=adam examples/sine.sh fits with Adam instead.
set -eu
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
out=${1:-build/examples/sine}
nn=${NN:-build/nn}
optim=${OPTIM:-lbfgs}
n=60          # samples
noise=0.25    # standard deviation of the noise
seed=1
case $optim in
adam) lr="--lr 0.01" steps=4000 ;;
lbfgs) lr="--line-search strong_wolfe" steps=50 ;;
*) lr="" steps=4000 ;;   # the optimizer's default rate
esac
if [ $quick = 1 ]; then
    epochs=$((steps * 3 / 20)) ms="{1,3,10}" restarts=3
else
    epochs=$steps ms="{1..12}" restarts=30
fi
mkdir -p "$out"

# 1. the data: x uniform on [0, 1], y = sin(2 pi x) + N(0, noise^2) (Box-Muller)
awk -v n=$n -v s=$noise -v seed=$seed 'BEGIN {
    srand(seed); pi = atan2(0, -1); print "x,y"
    for (i = 0; i < n; i++) {
        x = rand(); u = rand(); v = rand()
        if (u < 1e-12) u = 1e-12
        e = sqrt(-2 * log(u)) * cos(2 * pi * v)
        printf "%.6f,%.6f\n", x, sin(2 * pi * x) + s * e
    }
}' > "$out/sine.csv"
echo "sine: $n samples of sin(2 pi x) + N(0, $noise^2) in $out/sine.csv"

# 2. three fits on all the data, full-batch (--batch = every sample)
fits=""
for m in 1 3 10; do
    "$nn" train --model "1 dense:$m tanh dense:1" --data "$out/sine.csv" --label y \
        --batch $n --epochs $epochs --save-every $epochs --optim $optim $lr --seed $seed --quiet \
        --out "$out/fit-$m.safetensors"
    fits="$fits${fits:+,}$out/fit-$m.safetensors"
done
"$nn" plot "$fits" --fit --data "$out/sine.csv" --label y --out "$out/fits.png"

# 3. model selection: M = 1..12, 30 restarts each, on a 30% validation split
rm -f "$out/sweep/sweep.csv"
"$nn" sweep --model "1 dense:$ms tanh dense:1" --restarts $restarts \
    --data "$out/sine.csv" --label y --val-split 0.3 --batch $((n - n * 3 / 10)) \
    --epochs $epochs --optim $optim $lr --seed $seed --out-dir "$out/sweep" \
    | tee "$out/sweep.out"
chosen=$(sed -n 's/^best setting: [0-9]* (model=\([0-9]*\)).*/\1/p' "$out/sweep.out")
[ -n "$chosen" ] || { echo "sine: no setting chosen" >&2; exit 1; }
for png in fits.png sweep/sweep.png; do
    [ -s "$out/$png" ] || { echo "sine: $out/$png was not written" >&2; exit 1; }
done
# one tanh unit is a step: it cannot follow a whole period of the sine
[ "$chosen" != 1 ] || { echo "sine: the sweep chose M = 1, which underfits" >&2; exit 1; }
echo "sine: the sweep chooses M = $chosen hidden units (plots: $out/fits.png, $out/sweep/sweep.png)"
