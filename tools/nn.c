/*
 * nn.c - the libnn command-line program: subcommand dispatch, help, and
 * `nn gradcheck`.
 */
#include "cli.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int cmd;
    const char *usage, *about;
} commands[] = {
    {"train", CMD_TRAIN, "nn train [--data SRC] [--model SPEC] [options]",
     "train a model; writes a checkpoint after every epoch"},
    {"eval", CMD_EVAL, "nn eval MODEL.safetensors [SRC | --data SRC] [--split test|train] "
     "[--confusion] [--plot FILE.png] [--top K] [--json]",
     "loss and accuracy, per class and as a confusion matrix (or MSE, MAE and R^2) of a "
     "checkpoint on labelled data"},
    {"predict", CMD_PREDICT, "nn predict MODEL.safetensors [INPUT... | --input FILE] [--json]",
     "class and probabilities (or values) for each row or image"},
    {"info", CMD_INFO, "nn info MODEL.safetensors [--json] | nn info --spec \"SPEC\"",
     "a checkpoint's layers (output shapes, parameters), optimizer and training history"},
    {"summary", CMD_SUMMARY, "nn summary \"SPEC\" [--json]",
     "the layer table of a model spec (output shapes, parameters), without training"},
    {"import", CMD_IMPORT,
     "nn import STATE_DICT.safetensors --model SPEC --normalize KIND --out MODEL.safetensors",
     "a checkpoint from PyTorch weights (a state_dict saved as safetensors)"},
    {"gradcheck", CMD_GRADCHECK, "nn gradcheck --all | --op NAME",
     "check every op's backward pass against central finite differences"},
    {"graph", CMD_GRAPH,
     "nn graph MODEL.safetensors|\"SPEC\"|FILE.dot [--dot] [--png FILE] [--svg FILE] "
     "[--values INPUT]",
     "the computation graph as Graphviz DOT or a picture, with values and gradients"},
    {"sweep", CMD_SWEEP,
     "nn sweep --model \"1 dense:{1..12} tanh dense:1\" --restarts 30 --data FILE.csv "
     "--val-split 0.3 --out-dir DIR [train options]",
     "model selection: train every combination of the {lists} in the options, with "
     "restarts, in parallel; the best setting by mean validation loss"},
    {"plot", CMD_PLOT, "nn plot MODEL.safetensors [--curves] [--out FILE.png] | "
     "nn plot MODEL.safetensors --boundary [--data FILE.csv] [--out FILE.png] | "
     "nn plot A.safetensors[,B...] --fit [--data FILE.csv] [--out FILE.png]",
     "the learning curves a checkpoint records, a 2-input classifier's decision regions "
     "with the data over them, or 1-input regression models' curves over the points"},
};
#define NCMD (sizeof commands / sizeof commands[0])

static int usage(FILE *f)
{
    fprintf(f, "usage: nn <command> [options]      (nn %s)\n\ncommands:\n", nn_version());
    for (size_t i = 0; i < NCMD; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].about);
    fprintf(f, "  %-10s %s\n", "help", "this text; nn help COMMAND lists its options;");
    fprintf(f, "  %-10s %s\n", "", "nn help model | init | schedule: the forms of --model, "
            "--init, --schedule");
    fprintf(f, "\nData sources (--data, --val, --test):\n"
               "  fashion-mnist            the built-in Fashion-MNIST (Debian's dataset-fashion-mnist)\n"
               "  FILE.csv --label COL     a CSV file; COL is a header name or 0-based index\n"
               "  DIR/                     an image folder with one subfolder per class\n"
               "  idx:IMAGES,LABELS        any IDX pair (gzip or raw)\n"
               "\nExample:\n"
               "  nn train --model \"784 dense:256 relu dense:128 relu dense:10 softmax\" \\\n"
               "     --data fashion-mnist --epochs 5 --batch 64 --optim adam --lr 1e-3 \\\n"
               "     --seed 1 --out model.safetensors\n"
               "  nn eval model.safetensors --data fashion-mnist --json\n");
    return f == stderr ? 2 : 0;
}

static int help_schedule(void)
{
    printf("Learning-rate schedules (--schedule SPEC), applied per epoch, as in\n"
           "torch.optim.lr_scheduler:\n"
           "  constant                          the optimizer's learning rate (default)\n"
           "  step:STEP_SIZE[:GAMMA]            multiply by GAMMA (0.1) every STEP_SIZE epochs\n"
           "  exp:GAMMA                         multiply by GAMMA every epoch\n"
           "  cos[:T_MAX[:ETA_MIN]]             cosine from lr down to ETA_MIN (0) over T_MAX\n"
           "                                    epochs (default: all epochs after warm-up)\n"
           "  plateau[:PATIENCE[:FACTOR[:MIN_LR]]]\n"
           "                                    multiply by FACTOR (0.1) after PATIENCE (10)\n"
           "                                    epochs without a validation-loss improvement;\n"
           "                                    also threshold=, threshold_mode=rel|abs,\n"
           "                                    cooldown=, mode=min|max\n"
           "  warmup:EPOCHS[:START_FACTOR]+...  linear warm-up from START_FACTOR (1/3) of lr,\n"
           "                                    then the schedule after '+'\n"
           "Fields may also be named, e.g. plateau:patience=3:factor=0.5, warmup:3:0.1+step:10:0.5\n");
    return 0;
}

static int help_init(void)
{
    printf("Initializers (--init, --bias-init, and a dense or conv layer's INIT in --model):\n"
           "  zeros                    every value 0\n"
           "  constant:C               every value C\n"
           "  normal[:STD[:MEAN]]      N(MEAN, STD^2); STD 0.01, MEAN 0\n"
           "  uniform[:A]              U[-A, A]; A 0.05\n"
           "  uniform:LO:HI            U[LO, HI]\n"
           "  xavier_uniform[:GAIN]    U[-r, r], r = GAIN sqrt(6 / (fan_in + fan_out)),\n"
           "                           GAIN 1 (also: xavier, glorot)\n"
           "  xavier_normal[:GAIN]     N(0, s^2), s = GAIN sqrt(2 / (fan_in + fan_out)), GAIN 1\n"
           "  he_normal[:GAIN]         N(0, s^2), s = GAIN / sqrt(fan_in), GAIN sqrt(2)\n"
           "                           (also: he, kaiming)\n"
           "  he_uniform[:GAIN]        U[-r, r], r = GAIN sqrt(3 / fan_in), GAIN sqrt(2)\n"
           "A dense layer of IN inputs and UNITS units has fan_in = IN and fan_out = UNITS\n"
           "for its weights; for its biases both are UNITS. A conv layer of C outputs,\n"
           "kernel KHxKW and G groups on CIN channels has fan_in = CIN/G*KH*KW and\n"
           "fan_out = C*KH*KW.\n"
           "Weights default to he_normal before relu or leaky_relu (past any batchnorm or\n"
           "pooling) and xavier_uniform elsewhere; biases to zeros. A layer's own INIT\n"
           "wins over --init and --bias-init, which apply to every other dense and conv\n"
           "layer; the checkpoint's spec records them (nn info shows it).\n"
           "Zeros or a constant for the weights of a layer of several units makes every\n"
           "unit compute and learn the same thing (the symmetry problem): nn train warns,\n"
           "naming the layer, and trains anyway.\n"
           "Examples: --init normal:0.1   --bias-init constant:0.01\n"
           "  --model \"784 dense:256:he_uniform relu dense:10:normal:0.01:bias=zeros softmax\"\n");
    return 0;
}

static int help_model(void)
{
    printf("Model specs (--model SPEC): the input shape, then layers.\n"
           "The input shape is a number of features (784) or an image's CxHxW, channels x\n"
           "height x width (1x28x28). A layer is a name and fields, by position or as\n"
           "NAME=VALUE, separated by ':' or ','. Tokens are separated by spaces or commas;\n"
           "after a comma, a piece that starts with a digit (or '-', '+', '.') or is\n"
           "NAME=VALUE continues the layer before it, anything else starts a new layer:\n"
           "\"conv:8,5,pad=2,relu\" is conv:8:5:pad=2 then relu.\n"
           "\n"
           "  dense:UNITS[:INIT][:bias=no|INIT] fully connected (dense1, dense2, ...) on\n"
           "                                   (N, features); INIT: see nn help init;\n"
           "                                   bias=no: no dense1.bias (nn.Linear(bias=False))\n"
           "  conv:C,K[,stride=S][,pad=P|same][,dil=D][,groups=G][,bias=no|INIT][,init=INIT]\n"
           "                                   2-D convolution (conv1, ...): C output\n"
           "                                   channels, kernel K; K, S, P, D are N or HxW\n"
           "                                   (e.g. 5x3); defaults S 1, P 0, D 1, G 1, a\n"
           "                                   bias of zeros; pad=same keeps the size\n"
           "                                   (P = D(K-1)/2, stride 1); the input's channels\n"
           "                                   and C must divide into G groups\n"
           "  maxpool:K[,stride=S][,pad=P]     max over K x K windows (pool1, ...); S\n"
           "                                   defaults to K, P at most K/2\n"
           "  avgpool:K[,stride=S][,pad=P]     average over K x K windows, padding counted\n"
           "                                   as zeros (pool1, ...)\n"
           "  gap                              global average pooling: (C, H, W) -> (C)\n"
           "  batchnorm[:momentum=M][:eps=E]   batch normalization (bn1, ...) over channels\n"
           "                                   after conv or pooling, over features after\n"
           "                                   dense; M 0.1, E 1e-5\n"
           "  flatten                          (C, H, W) -> (C*H*W), before dense\n"
           "  relu  sigmoid  tanh  sign  identity\n"
           "  leaky_relu[:SLOPE]               SLOPE 0.01\n"
           "  hardtanh[:LO:HI]                 -1, 1\n"
           "  dropout[:P]                      P from --dropout, else 0.5 (any shape)\n"
           "  softmax                          last layer only\n"
           "\n"
           "Output size of conv and pooling along each axis, for input size H, padding P,\n"
           "dilation D (1 for pooling), kernel K and stride S (PyTorch's floor mode):\n"
           "  floor((H + 2P - D(K-1) - 1) / S) + 1\n"
           "e.g. 28x28 through conv:8,5,pad=2 stays 28x28, maxpool:2 halves it to 14x14,\n"
           "conv:16,5 gives 10x10, maxpool:2 5x5: flatten gives 16*5*5 = 400 features.\n"
           "A layer that does not fit its input (a kernel larger than the padded input,\n"
           "channels that do not divide into the groups, dense on images without flatten)\n"
           "is an error naming the token, the layer and the shapes.\n"
           "\n"
           "Field names: units, init, bias, slope, lo, hi, p, channels, kernel, stride, pad,\n"
           "dil, groups, momentum, eps; e.g. dropout:p=0.2, dense:64:init=uniform:-0.1:0.1.\n"
           "Weights start He normal when the next layer past batchnorm and pooling is relu\n"
           "or leaky_relu, Xavier uniform otherwise (--init overrides). Parameters are named\n"
           "as PyTorch's state dict: conv1.weight (C, in/G, KH, KW), conv1.bias, bn1.weight,\n"
           "bn1.bias, bn1.running_mean, bn1.running_var, bn1.num_batches_tracked, dense1.weight\n"
           "(units, in), dense1.bias. A final softmax or sigmoid is fused with the loss.\n"
           "Examples:\n"
           "  \"784 dense:256 relu dropout:0.2 dense:10 softmax\"\n"
           "  \"1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten\n"
           "   dense:120 relu dense:84 relu dense:10\"\n"
           "  \"3x32x32 conv:32,3,pad=same batchnorm relu maxpool:2 conv:64,3,pad=same\n"
           "   batchnorm relu gap dropout:0.2 dense:10\"\n"
           "Image data (IDX, image folders) must have the input's CxHxW; a CSV row of\n"
           "C*H*W numbers is read as one image (row-major: channel, row, column).\n");
    return 0;
}

static void help_sweep(void)
{
    printf("\nLists: any option's value, a --model spec's numbers included, may hold\n"
           "  {a,b,c}             these values (e.g. --lr '{0.01,0.1}', --optim '{sgd,adam}')\n"
           "  {FROM..TO[..STEP]}  the integers FROM, FROM+STEP, ... up to TO\n"
           "                      (e.g. --model \"1 dense:{1..12} tanh dense:1\")\n"
           "Quote them: the shell would expand {a,b} itself. A setting is one\n"
           "combination of the lists' values (the first list varying slowest); each\n"
           "runs --restarts times, restart r with --seed + r (the initial weights and\n"
           "the batch order), every restart on the same validation split (drawn with\n"
           "--split-seed, default --seed). Each run is an nn train on one thread in a\n"
           "worker process, --jobs at a time.\n"
           "\n"
           "In --out-dir: sweep.csv, one row per run (setting, its values, restart,\n"
           "seed, training and validation loss, accuracy or mae, epochs run), in\n"
           "evaluation mode with the final weights; models/setting-K.safetensors,\n"
           "setting K's best restart; best.safetensors, the best restart of the setting\n"
           "of lowest mean validation loss; sweep.png, validation loss against the\n"
           "setting, a dot per restart and the mean; sweep.cmd, the command.\n"
           "The table printed gives each setting's mean and standard deviation (n - 1)\n"
           "of the validation loss over its restarts.\n"
           "\n"
           "An interrupted sweep (Ctrl-C, or killed) run again with the same command\n"
           "skips the runs in its sweep.csv; a different command (other than --jobs and\n"
           "--quiet) is refused, naming the difference. At most 10000 runs.\n");
}

static int help(const char *what)
{
    if (!what)
        return usage(stdout);
    if (strcmp(what, "schedule") == 0)
        return help_schedule();
    if (strcmp(what, "init") == 0)
        return help_init();
    if (strcmp(what, "model") == 0)
        return help_model();
    for (size_t i = 0; i < NCMD; i++)
        if (strcmp(what, commands[i].name) == 0) {
            printf("usage: %s\n\n%s\n", commands[i].usage, commands[i].about);
            if (cli_help(NULL, commands[i].cmd) > 0) {
                printf("\noptions:\n");
                cli_help(stdout, commands[i].cmd);
            }
            if (commands[i].cmd == CMD_IMPORT)
                cmd_import_help();
            if (commands[i].cmd == CMD_SWEEP)
                help_sweep();
            if (commands[i].cmd == CMD_TRAIN)
                printf("\nEvery option can also be set in an INI file given with --config;\n"
                       "flags on the command line override it. See also: nn help model,\n"
                       "nn help init, nn help schedule\n");
            return 0;
        }
    fprintf(stderr, "nn help: no command '%s'\n", what);
    return 2;
}

static int cmd_gradcheck(int argc, char **argv)
{
    struct opts o = {0};
    const char *pos;
    if (!cli_parse(CMD_GRADCHECK, argc, argv, &o, &pos))
        return 2;
    if (pos || (!o.all && !o.op))
        return cli_fail("gradcheck", "give --all or --op NAME"), 2;
    int failed = 0, checked = 0;
    for (int i = 0; i < nn_op_count(); i++) {
        const char *name = nn_op_name_at(i);
        if (o.op && strcmp(o.op, name) != 0)
            continue;
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
        if (!ctx)
            return cli_fail("gradcheck", "out of memory");
        struct nn_gradcheck_result r;
        double tol = 0;
        nn_status st = nn_gradcheck_op(ctx, i, &r, &tol);
        if (st == NN_ERR_INVALID && !o.op) { /* a leaf: nothing to check */
            nn_ctx_free(ctx);
            continue;
        }
        checked++;
        if (st != NN_OK) {
            printf("%-24s error: %s\n", name, nn_ctx_error(ctx));
            failed++;
        } else {
            bool ok = r.max_rel_err <= tol;
            printf("%-24s max rel err %.2e  (tol %.0e, %3lld entries)  %s\n", name,
                   r.max_rel_err, tol, (long long)r.checked, ok ? "pass" : "FAIL");
            failed += !ok;
        }
        nn_ctx_free(ctx);
    }
    if (o.op && checked == 0) {
        const char *names[256];
        int n = nn_op_count() < 256 ? nn_op_count() : 256;
        for (int i = 0; i < n; i++)
            names[i] = nn_op_name_at(i);
        const char *near = nn_nearest_name(o.op, names, n);
        return cli_fail("gradcheck", "no op named '%s'%s%s%s (the ops: nn gradcheck --all)",
                        o.op, near ? " (did you mean " : "", near ? near : "",
                        near ? "?)" : ""), 2;
    }
    printf("%d ops checked, %d failed\n", checked, failed);
    return failed ? 1 : 0;
}

/* Under mpirun with several processes, every command but train runs on
 * rank 0 alone (the others end at once, silently): N copies of nn eval
 * would print N identical reports. False on the ranks that should end. */
/* This process's rank when mpirun started several; -1 otherwise. */
static int mpi_rank(void)
{
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE"), *wr = getenv("OMPI_COMM_WORLD_RANK");
    return ws && atoi(ws) > 1 ? (wr ? atoi(wr) : 0) : -1;
}

static bool runs_here(const char *cmd)
{
    int rank = mpi_rank();
    if (rank < 0)
        return true;
    if (strcmp(cmd, "train") == 0) {
        if (rank != 0)
            cli_dist_hold();
        return true;
    }
    if (rank != 0)
        return false;
    fprintf(stderr, "nn %s: launched by mpirun as %s processes; rank 0 alone runs it (only "
            "nn train is data-parallel)\n", cmd, getenv("OMPI_COMM_WORLD_SIZE"));
    return true;
}

int main(int argc, char **argv)
{
    /* Buffers of a few megabytes (a checkpoint's header, which grows with
     * its history, built and freed after every epoch) come from the heap
     * and go back to it: glibc's default maps and unmaps each, and 3000
     * checkpointed epochs of a small model took 8.9 s instead of 3.9 s
     * (tmpfs), mostly in page faults. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (!runs_here(cmd))
        return 0;
    cli_cmd = cmd; /* shared code's messages name it (an unknown one is refused below) */
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("nn %s (matrix products: %s)\n", nn_version(), nn_gemm_backend_name());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return help(argc > 2 ? argv[2] : NULL);
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0))
        return help(cmd);
    if (strcmp(cmd, "train") == 0) {
        int rc = cmd_train(argc - 2, argv + 2);
        if (rc != 0 && rc != 130 && rc != 143 && mpi_rank() > 0)
            cli_dist_linger(); /* see cli_dist_hold */
        return rc;
    }
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 2, argv + 2);
    if (strcmp(cmd, "summary") == 0)
        return cmd_summary(argc - 2, argv + 2);
    if (strcmp(cmd, "gradcheck") == 0)
        return cmd_gradcheck(argc - 2, argv + 2);
    if (strcmp(cmd, "graph") == 0)
        return cmd_graph(argc - 2, argv + 2);
    if (strcmp(cmd, "sweep") == 0)
        return cmd_sweep(argc - 2, argv + 2);
    if (strcmp(cmd, "plot") == 0)
        return cmd_plot(argc - 2, argv + 2);
    if (strcmp(cmd, "import") == 0)
        return cmd_import(argc - 2, argv + 2);
    const char *names[NCMD];
    for (size_t i = 0; i < NCMD; i++)
        names[i] = commands[i].name;
    const char *near = nn_nearest_name(cmd, names, (int)NCMD);
    if (near) {
        fprintf(stderr, "nn: unknown command '%s' (did you mean '%s'? see: nn help)\n", cmd,
                near);
        return 2;
    }
    fprintf(stderr, "nn: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
