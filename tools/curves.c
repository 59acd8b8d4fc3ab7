/*
 * curves.c - `nn plot MODEL [--curves]`: the learning curves a checkpoint
 * records (loss and accuracy, or MAE, per epoch, training and validation,
 * and the test result when the run was tested), drawn as nn train --plot
 * draws them, for a run trained without --plot or on another machine.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The test metrics nn train recorded ({"loss": .., "accuracy"|"mae": ..,
 * "n": ..}); false when there are none. */
static bool recorded_test(const char *json, bool regression, struct nn_metrics *t)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "loss");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, regression ? "mae" : "accuracy");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
    bool ok = cJSON_IsNumber(loss) && cJSON_IsNumber(v);
    if (ok) {
        *t = (struct nn_metrics){.loss = loss->valuedouble, .accuracy = NAN, .mae = NAN,
                                 .mse = NAN, .n = cJSON_IsNumber(n) ? (int64_t)n->valuedouble : 0};
        if (regression)
            t->mae = v->valuedouble;
        else
            t->accuracy = v->valuedouble;
    }
    cJSON_Delete(root);
    return ok;
}

int cli_plot_curves(const struct opts *o, const char *path)
{
    if (o->data)
        return cli_fail("plot", "--data gives the points of --boundary or --fit; the learning "
                        "curves (what nn plot draws without either) come from the checkpoint "
                        "alone"), 2;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = 1});
    if (!ctx)
        return cli_fail("plot", "out of memory");
    int rc = 1;
    char *owned = o->out ? NULL : cli_beside(path, "-curves.png");
    const char *out = o->out ? o->out : owned;
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    if (!ck) {
        cli_fail("plot", "%s", nn_ctx_error(ctx));
        goto done;
    }
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    if (!out || !cli_check_output("plot", "--out", out))
        goto done;
    if (!in->has_trainer || in->epochs_done < 1) {
        cli_fail("plot", "%s records no training history (weights only); --boundary or --fit "
                 "draw what such a model computes", path);
        goto done;
    }
    bool regression = in->loss == NN_LOSS_MSE;
    struct nn_metrics test;
    bool tested = recorded_test(nn_checkpoint_meta(ck, "test"), regression, &test);
    const char *data = nn_checkpoint_meta(ck, "data");
    char title[300];
    snprintf(title, sizeof title, "%s on %s; training metrics: %s", in->spec,
             data ? data : "(data not recorded)",
             in->train.train_eval ? "eval mode" : "running, dropout on");
    if (!cli_plot(out, in->history, in->epochs_done, regression, title, tested ? &test : NULL))
        goto done;
    if (!o->quiet)
        printf("learning curves of %d epoch%s written to %s\n", in->epochs_done,
               in->epochs_done > 1 ? "s" : "", out);
    rc = 0;
done:
    nn_checkpoint_close(ck);
    nn_ctx_free(ctx);
    free(owned);
    return rc;
}
