#!/bin/sh
# Runs the lectures' experiments of examples/ (make examples, make
# examples-quick): each program writes its plots and prints its result; the
# decision-boundary plots come from `nn plot --boundary`. In quick mode each
# runs its reduced version, which asserts the example's claims.
#   EX=BUILD/examples NN=BUILD/nn OUT=DIR scripts/examples.sh full|quick
set -e
mode=$1
case $mode in
full) q= ;;
quick) q=--quick ;;
*) echo "usage: scripts/examples.sh full|quick" >&2; exit 2 ;;
esac
: "${EX:?}" "${NN:?}" "${OUT:?}"
mkdir -p "$OUT"
ran=

echo "== XOR"
"$EX/xor_lecture" "$OUT" $q
for m in 221-sigmoid 241-tanh logistic; do
    "$NN" plot "$OUT/xor-$m.safetensors" --boundary --data "$OUT/xor.csv" --label y \
        --out "$OUT/xor-$m-boundary.png"
done
ran="$ran xor"

echo "== over- and under-fitting"
if [ "$mode" = quick ]; then "$EX/overfit" "$OUT" --quick; else "$EX/overfit" "$OUT" --seeds 3; fi
ran="$ran overfit"

echo "== initialization"
"$EX/init" "$OUT" $q
ran="$ran init"

echo "== optimizers"
"$EX/optimizers" "$OUT" $q
ran="$ran optimizers"

echo "examples ($mode):$ran ran as expected; plots in $OUT"
