/*
 * spec.h - private: a sequential model spec ("784 dense:256 relu dropout:0.2
 * dense:10 softmax", "1x28x28 conv:8,5,pad=2 relu maxpool:2 flatten
 * dense:10") as a list of layers, parsed from and written back to its text
 * form (spec.c). The model builder (model.c) turns the list into a graph.
 *
 * Text form: tokens separated by blanks or commas; the first is the
 * per-sample input shape (N features, or CxHxW for images), each further
 * one a layer "KIND[:FIELD]...". A field is positional or NAME=VALUE, as
 * in the schedule's text form; fields are separated by ':' or, after the
 * kind's first field, by ',': a comma-separated piece that starts like a
 * number (a digit, '-', '+' or '.') or is NAME=VALUE continues the layer
 * before it, any other piece starts a new layer ("conv:8,5,pad=2,relu" is
 * conv:8:5:pad=2 then relu). Which fields a kind takes, their names, types
 * and ranges, and where they land in struct nn_layer are one table in
 * spec.c, so a new layer kind is a table row and the struct fields it
 * fills. An initializer field takes the fields after it without a NAME=
 * as its numbers: "dense:256:normal:0.02:bias=constant:0.1".
 */
#ifndef NN_SPEC_H
#define NN_SPEC_H

#include "nn_impl.h"

enum nn_layer_kind {
    NN_LAYER_DENSE = 0,
    NN_LAYER_RELU,
    NN_LAYER_LEAKY_RELU,
    NN_LAYER_SIGMOID,
    NN_LAYER_TANH,
    NN_LAYER_HARDTANH,
    NN_LAYER_SIGN,
    NN_LAYER_IDENTITY,
    NN_LAYER_DROPOUT,
    NN_LAYER_SOFTMAX,
    NN_LAYER_CONV,
    NN_LAYER_MAXPOOL,
    NN_LAYER_AVGPOOL,
    NN_LAYER_GAP,
    NN_LAYER_BATCHNORM,
    NN_LAYER_FLATTEN,
    NN_LAYER_COUNT
};

/* One layer as written. A has_* flag is false for a field the token did not
 * give: the builder then applies the model's configuration or the kind's
 * default. */
struct nn_layer {
    enum nn_layer_kind kind;
    int token;             /* 1-based position in the spec (token 1: the input shape) */
    int start, len;        /* the token as written: the spec's text[start, start + len) */
    int64_t units;         /* dense: output units; conv: output channels */
    struct nn_init init;   /* dense, conv: weight initializer */
    struct nn_init bias;   /* dense, conv: bias initializer */
    double arg[2];         /* leaky_relu: slope; hardtanh: lo, hi; dropout: p;
                              batchnorm: momentum, eps */
    int64_t kernel[2];     /* conv, pools: (height, width) */
    int64_t stride[2];     /* conv (default 1), pools (default: the kernel) */
    int64_t pad[2];        /* conv, pools: zero padding on each side (default 0) */
    int64_t dil[2];        /* conv: dilation (default 1) */
    int64_t groups;        /* conv (default 1) */
    bool has_init, has_bias, has_arg, has_arg2, has_stride, has_pad, has_dil, has_groups;
    bool pad_same;         /* conv: pad=same (D(K-1)/2 on each side, stride 1) */
    bool no_bias;          /* dense, conv: bias=no */
};

struct nn_spec {
    int in_ndim;             /* 1 (features) or 3 (channels, height, width) */
    int64_t in_dims[3];      /* (in_ndim) */
    int64_t inputs;          /* per-sample input size: the product of in_dims */
    int nlayers;
    struct nn_layer *layers; /* (nlayers), owned */
};

/* Parses text into *out (which the caller releases with nn_spec_free, also
 * after an error). NN_ERR_INVALID with a message naming the token, its
 * position and what was expected; NN_ERR_NOMEM. */
nn_status nn_spec_parse(nn_ctx *ctx, const char *text, struct nn_spec *out);
void nn_spec_free(struct nn_spec *s);
/* Writes the text form of s (parsable by nn_spec_parse: every field a
 * layer gives, ':'-separated, numbers as the float the layer uses) into
 * buf; returns the length it needs, as snprintf. */
int nn_spec_format(const struct nn_spec *s, char *buf, size_t size);
/* The kind's name as written in specs ("dense", "conv", ...). */
const char *nn_spec_kind_name(enum nn_layer_kind kind);

#endif /* NN_SPEC_H */
