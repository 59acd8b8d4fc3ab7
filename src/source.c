/*
 * source.c - the one data abstraction the trainer reads: arrays in memory
 * and data sets as nn_source, and the check of a source against a model
 * (features, label kind, class and target counts) made before any sample
 * is copied into the model's buffers.
 */
#include "nn_impl.h"

#include <string.h>

/* ---- arrays ------------------------------------------------------------- */

static nn_status array_gather(void *self, const int64_t *idx, int64_t n, float *x,
                              int32_t *labels, float *targets)
{
    struct nn_array_source *a = self;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = idx[i];
        if (r < 0 || r >= a->n)
            return NN_ERR_RANGE;
        memcpy(x + i * a->features, a->x + r * a->features, (size_t)a->features * sizeof(float));
        if (labels) {
            if (!a->labels)
                return NN_ERR_INVALID;
            labels[i] = a->labels[r];
        }
        if (targets) {
            if (!a->targets)
                return NN_ERR_INVALID;
            memcpy(targets + i * a->ntargets, a->targets + r * a->ntargets,
                   (size_t)a->ntargets * sizeof(float));
        }
    }
    return NN_OK;
}

struct nn_source nn_source_from_arrays(struct nn_array_source *a)
{
    return (struct nn_source){.n = a->n, .features = a->features,
                              .has_labels = a->labels != NULL,
                              .ntargets = a->targets ? a->ntargets : 0,
                              .gather = array_gather, .self = a, .parallel = true};
}

/* ---- data sets ---------------------------------------------------------- */

static nn_status dataset_gather(void *self, const int64_t *idx, int64_t n, float *x,
                                int32_t *labels, float *targets)
{
    return nn_dataset_gather(self, idx, n, x, labels, targets);
}

static void dataset_prefetch(void *self, const int64_t *idx, int64_t n)
{
    nn_dataset_prefetch(self, idx, n);
}

struct nn_source nn_source_from_dataset(const nn_dataset *ds)
{
    nn_label_kind k = nn_dataset_label_kind(ds);
    return (struct nn_source){.n = nn_dataset_size(ds), .features = nn_dataset_features(ds),
                              .has_labels = k == NN_LABELS_CLASS,
                              .classes = k == NN_LABELS_CLASS ? nn_dataset_classes(ds) : 0,
                              .ntargets = k == NN_LABELS_TARGETS ? nn_dataset_targets(ds) : 0,
                              .gather = dataset_gather, .self = (void *)ds, .parallel = true,
                              .prefetch = dataset_prefetch};
}

const nn_dataset *nn_source_dataset(const struct nn_source *s)
{
    return s && s->gather == dataset_gather ? s->self : NULL;
}

/* ---- the check ---------------------------------------------------------- */

static const char *loss_text(nn_loss_kind k)
{
    switch (k) {
    case NN_LOSS_SOFTMAX_CE: return "softmax cross-entropy";
    case NN_LOSS_SIGMOID_BCE: return "sigmoid binary cross-entropy";
    case NN_LOSS_MSE: return "mean squared error";
    default: return "?";
    }
}

/* What the source gives, for messages: "class labels", "3 targets per
 * sample", ... */
static const char *gives(const struct nn_source *s, char *buf, size_t len)
{
    if (s->has_labels && s->ntargets > 0)
        snprintf(buf, len, "class labels and %lld targets per sample", (long long)s->ntargets);
    else if (s->has_labels)
        snprintf(buf, len, "class labels");
    else if (s->ntargets > 0)
        snprintf(buf, len, "regression targets (%lld per sample)", (long long)s->ntargets);
    else
        snprintf(buf, len, "neither class labels nor targets");
    return buf;
}

nn_status nn_source_check(nn_model *m, const struct nn_source *s, const char *what,
                          enum nn_feed_kind *kind)
{
    nn_ctx *ctx = nn_model_ctx(m);
    nn_loss_kind lk = nn_model_loss_kind(m);
    int64_t in = nn_model_inputs(m), out = nn_model_outputs(m);
    char g[96];
    if (!s || !s->gather)
        return nn_fail(ctx, NN_ERR_INVALID, "%s: no source (or no gather function)", what);
    if (s->n < 1)
        return nn_fail(ctx, NN_ERR_INVALID, "%s: the source has %lld samples, expected >= 1",
                       what, (long long)s->n);
    if (s->features != in)
        return nn_fail(ctx, NN_ERR_SHAPE,
                       "%s: the source has %lld feature%s per sample but the model takes "
                       "%lld input%s", what, (long long)s->features, s->features == 1 ? "" : "s",
                       (long long)in, in == 1 ? "" : "s");
    if (s->ntargets < 0 || s->classes < 0)
        return nn_fail(ctx, NN_ERR_INVALID, "%s: the source has %lld targets and %lld classes, "
                       "expected counts >= 0", what, (long long)s->ntargets,
                       (long long)s->classes);
    if (lk == NN_LOSS_SOFTMAX_CE) {
        if (!s->has_labels)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "%s: the source gives %s but the model's loss is %s, which needs "
                           "class labels", what, gives(s, g, sizeof g), loss_text(lk));
        if (s->classes > out)
            return nn_fail(ctx, NN_ERR_SHAPE,
                           "%s: the source's labels span %lld classes but the model has %lld "
                           "outputs", what, (long long)s->classes, (long long)out); /* >= 2 */
        *kind = NN_FEED_LABELS;
        return NN_OK;
    }
    if (s->ntargets > 0) {
        if (s->ntargets != out)
            return nn_fail(ctx, NN_ERR_SHAPE,
                           "%s: the source has %lld targets per sample but the model has "
                           "%lld output%s", what, (long long)s->ntargets, (long long)out,
                           out == 1 ? "" : "s");
        *kind = NN_FEED_TARGETS;
        return NN_OK;
    }
    if (lk == NN_LOSS_SIGMOID_BCE && s->has_labels && out == 1) {
        if (s->classes > 2)
            return nn_fail(ctx, NN_ERR_SHAPE,
                           "%s: the source's labels span %lld classes but a one-output "
                           "sigmoid model takes labels 0 and 1 only", what,
                           (long long)s->classes);
        *kind = NN_FEED_BINARY_LABELS;
        return NN_OK;
    }
    if (s->has_labels)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "%s: the source gives class labels but the model's loss is %s, which "
                       "needs %lld float target%s per sample%s", what, loss_text(lk),
                       (long long)out, out == 1 ? "" : "s",
                       lk == NN_LOSS_MSE ? " (a regression model)"
                                         : " (class labels fit a one-output sigmoid only)");
    return nn_fail(ctx, NN_ERR_INVALID,
                   "%s: the source gives %s but the model's loss is %s, which needs %lld "
                   "target%s per sample", what, gives(s, g, sizeof g), loss_text(lk),
                   (long long)out, out == 1 ? "" : "s");
}
