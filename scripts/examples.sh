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

echo "== is there a ball?"
# sizes: quick / full
if [ "$mode" = quick ]; then ntr=1200 nte=400 emlp=20 ecnn=8; else ntr=4000 nte=1000 emlp=60 ecnn=12; fi
rm -rf "$OUT/ball"
"$EX/ball_render" "$OUT/ball" $ntr $nte "$OUT/ball-samples.png"
# train: the lectures' 12288-3-2-1 sigmoid network with log loss, then a small CNN;
# prints "NAME train T test A" and leaves the test accuracy in $acc
ball_train() {
    name=$1 epochs=$2 lr=$3 model=$4
    shift 4
    "$NN" train --data "$OUT/ball/train/" --test "$OUT/ball/test/" --model "$model" "$@" \
        --epochs "$epochs" --batch 32 --lr "$lr" --seed 1 --out "$OUT/ball-$name.safetensors" \
        --log "$OUT/ball-$name.csv" --plot "$OUT/ball-$name.png" --force --quiet \
        > "$OUT/ball-$name.out"
    acc=$(sed -n 's/^test accuracy: \([0-9.]*\).*/\1/p' "$OUT/ball-$name.out")
    tr=$(tail -n 1 "$OUT/ball-$name.csv" | cut -d, -f3)
    printf '%-34s %3d epochs  training accuracy %s  held-out accuracy %s (%d images)\n' \
        "$name: $model" "$epochs" "$tr" "$acc" "$nte"
}
ball_train mlp "$emlp" 1e-3 "12288 dense:3 sigmoid dense:2 sigmoid dense:1 sigmoid" --normalize standard
mlp=$acc
ball_train cnn "$ecnn" 3e-3 "3x64x64 conv:16,3 batchnorm relu maxpool:2 conv:32,3 batchnorm relu maxpool:2 conv:32,3 batchnorm relu maxpool:2 conv:32,3 batchnorm relu gap dense:1 sigmoid"
cnn=$acc
"$EX/curves" "$OUT/ball.png" "Is there a ball? $ntr training images, training accuracy per epoch" \
    "12288-3-2-1 sigmoid MLP" "$OUT/ball-mlp.csv" "$mlp" \
    "CNN: 4 conv+batchnorm+relu, gap, dense:1" "$OUT/ball-cnn.csv" "$cnn"
# the claim: the CNN finds the ball where the dense sigmoid network barely can
if ! awk -v m="$mlp" -v c="$cnn" 'BEGIN { exit !(c >= 0.65 && c >= m + 0.1) }'; then
    echo "ball: expected the CNN (held-out $cnn) >= 0.65 and 10 points above the MLP ($mlp)" >&2
    exit 1
fi
ran="$ran ball"

echo "examples ($mode):$ran ran as expected; plots in $OUT"
