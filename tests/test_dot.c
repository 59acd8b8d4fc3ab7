/*
 * test_dot.c - the graph as DOT text (nn_graph_dot): every compiled node
 * and edge with its shape, the lectures' (x + y) max(y, z) with its values
 * and gradients, fused bias adds, large tensors, escaping, errors; node
 * names (nn_node_set_name, dense layers, a model's layer names).
 */
#include "test.h"

#include "nn_impl.h"

/* The DOT line of node name (up to its newline), copied into line; fails
 * the test if there is none. */
static const char *node_line(const char *dot, const char *name, char *line, size_t cap)
{
    char head[512];
    snprintf(head, sizeof head, "\n  \"%s\" [", name);
    const char *p = strstr(dot, head);
    if (!p)
        fail_msg("no DOT node '%s' in:\n%s", name, dot);
    p++;
    size_t n = strcspn(p, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(line, p, n);
    line[n] = '\0';
    return line;
}

static void assert_has(const char *text, const char *what, const char *where)
{
    if (!strstr(text, what))
        fail_msg("%s lacks '%s': %s", where, what, text);
}

/* "(N, 3)" for a node, from the public shape queries and the batch flag. */
static void shape_text(const nn_node *n, char *buf, size_t cap)
{
    size_t off = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < nn_node_ndim(n); i++)
        off += (size_t)snprintf(buf + off, cap - off, i == 0 && n->batched ? "%sN" : "%s%lld",
                                i ? ", " : "", (long long)nn_node_dim(n, i));
    snprintf(buf + off, cap - off, ")");
}

static int count(const char *s, const char *what)
{
    int k = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        k++;
    return k;
}

/* A small MLP: one DOT node per compiled node and one edge per input,
 * each labelled with its input's shape; the layer names are the nodes'. */
static void mlp_has_every_node_and_edge(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1});
    nn_model *m = nn_model_new(ctx, "4 dense:3 relu dense:2 softmax", NULL);
    assert_non_null(m);
    nn_graph *g = nn_model_graph(m);
    char *dot = nn_graph_dot(g, NULL);
    if (!dot)
        fail_msg("nn_graph_dot: %s", nn_ctx_error(ctx));
    assert_true(strncmp(dot, "digraph ", 8) == 0);
    assert_true(dot[strlen(dot) - 2] == '}');
    char line[4096], want[1024], sh[64];
    int edges = 0;
    for (int i = 0; i < g->norder; i++) {
        const nn_node *n = g->order[i];
        node_line(dot, n->name, line, sizeof line);
        shape_text(n, sh, sizeof sh);
        snprintf(want, sizeof want, "%s %s", n->op == NN_OP_PARAM ? "param" : nn_node_op(n), sh);
        assert_has(line, want, n->name);
        for (int j = 0; j < n->nin; j++, edges++) {
            shape_text(n->in[j], sh, sizeof sh);
            snprintf(want, sizeof want, "\n  \"%s\" -> \"%s\" [label=\"%s\"];\n",
                     n->in[j]->name, n->name, sh);
            assert_has(dot, want, "the DOT text");
        }
    }
    assert_int_equal(count(dot, " -> "), edges);
    assert_int_equal(count(dot, "\" [shape="), g->norder);
    /* the layer names and shapes, written out */
    const char *names[] = {"x", "dense1.weight", "dense1.bias", "dense1.matmul", "dense1",
                           "relu1", "dense2.weight", "dense2.bias", "dense2.matmul", "dense2",
                           "softmax1", "y", "loss"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        node_line(dot, names[i], line, sizeof line);
    assert_int_equal(g->norder, (int)(sizeof names / sizeof names[0]));
    const char *fixed[] = {"\"x\" -> \"dense1.matmul\" [label=\"(N, 4)\"]",
                           "\"dense1.weight\" -> \"dense1.matmul\" [label=\"(3, 4)\"]",
                           "\"dense1.matmul\" -> \"dense1\" [label=\"(N, 3)\"]",
                           "\"dense1.bias\" -> \"dense1\" [label=\"(3)\"]",
                           "\"dense1\" -> \"relu1\" [label=\"(N, 3)\"]",
                           "\"relu1\" -> \"dense2.matmul\" [label=\"(N, 3)\"]",
                           "\"dense2.weight\" -> \"dense2.matmul\" [label=\"(2, 3)\"]",
                           "\"dense2\" -> \"loss\" [label=\"(N, 2)\"]",
                           "\"y\" -> \"loss\" [label=\"(N)\"]",
                           "\"dense2\" -> \"softmax1\" [label=\"(N, 2)\"]"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        assert_has(dot, fixed[i], "the DOT text");
    /* structure only: no numbers */
    assert_null(strstr(dot, ">value "));
    assert_null(strstr(dot, ">grad "));
    assert_has(node_line(dot, "loss", line, sizeof line), "peripheries=2", "the loss");
    free(dot);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

static nn_node *scalar(nn_graph *g, const char *name, float v)
{
    return nn_param(g, name, 1, (int64_t[]){1},
                    (struct nn_init){.kind = NN_INIT_CONSTANT, .a = v});
}

/* The colour of the FONT element just before text in line. */
static void color_of(const char *line, const char *text, char out[8])
{
    const char *p = strstr(line, text);
    assert_non_null(p);
    const char *c = p;
    while (c > line && strncmp(c, "COLOR=\"#", 8) != 0)
        c--;
    assert_true(c > line);
    memcpy(out, c + 7, 7);
    out[7] = '\0';
}

/* f = (x + y) max(y, z) at (1, 2, 0), max(y, z) = z + relu(y - z), as in
 * test_textbook.c: f = 6, df/dx = 2, df/dy = 5, df/dz = 0, each in its
 * node, values and gradients in two colours. */
static void textbook_values_and_gradients(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = scalar(g, "x", 1), *y = scalar(g, "y", 2), *z = scalar(g, "z", 0);
    nn_node *mx = nn_add(g, z, nn_relu(g, nn_sub(g, y, z)));
    nn_node *q = nn_add(g, x, y);
    assert_ok(ctx, nn_node_set_name(mx, "max(y, z)"));
    assert_ok(ctx, nn_node_set_name(q, "x + y"));
    nn_node *f = nn_mul(g, q, mx);
    assert_ok(ctx, nn_node_set_name(f, "f"));
    assert_ok(ctx, nn_graph_compile(g, &f, 1, 1));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, f));
    char *dot = nn_graph_dot(g, &(struct nn_dot_cfg){.values = true, .grads = true,
                                                     .from = f, .title = "textbook"});
    if (!dot)
        fail_msg("nn_graph_dot: %s", nn_ctx_error(ctx));
    struct { const char *node, *value, *grad; } want[] = {
        {"f", ">value 6<", ">grad 1<"},        {"x", ">value 1<", ">grad 2<"},
        {"y", ">value 2<", ">grad 5<"},        {"z", ">value 0<", ">grad 0<"},
        {"x + y", ">value 3<", ">grad 2<"},    {"max(y, z)", ">value 2<", ">grad 3<"},
    };
    char line[4096], vc[8], gc[8];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        node_line(dot, want[i].node, line, sizeof line);
        assert_has(line, want[i].value, want[i].node);
        assert_has(line, want[i].grad, want[i].node);
        color_of(line, want[i].value, vc);
        color_of(line, want[i].grad, gc);
        if (strcmp(vc, gc) == 0)
            fail_msg("%s: values and gradients share the colour %s", want[i].node, vc);
    }
    assert_has(dot, "textbook", "the caption");
    assert_has(dot, "d(f)/d(node)", "the caption");
    free(dot);
    /* values without gradients */
    dot = nn_graph_dot(g, &(struct nn_dot_cfg){.values = true});
    assert_non_null(dot);
    assert_has(node_line(dot, "f", line, sizeof line), ">value 6<", "f");
    assert_null(strstr(dot, ">grad "));
    free(dot);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* A bias add folded into its relu has no buffers: the DOT shows the value
 * (x W^T + b) and gradient (the relu's where positive) it stands for. */
static void fused_add_shows_its_values(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_model *m = nn_model_new(ctx, "2 dense:2 relu dense:1", NULL);
    assert_non_null(m);
    nn_graph *g = nn_model_graph(m);
    nn_node *d1 = nn_graph_find(g, "dense1");
    assert_non_null(d1);
    assert_true(d1->fused);
    const float w1[4] = {1, 0, 0, 1}, b1[2] = {0.5f, -3}, w2[2] = {1, 1}, b2[1] = {0};
    memcpy(nn_value_mut(nn_graph_find(g, "dense1.weight")), w1, sizeof w1);
    memcpy(nn_value_mut(nn_graph_find(g, "dense1.bias")), b1, sizeof b1);
    memcpy(nn_value_mut(nn_graph_find(g, "dense2.weight")), w2, sizeof w2);
    memcpy(nn_value_mut(nn_graph_find(g, "dense2.bias")), b2, sizeof b2);
    const float xin[2] = {1, 2}, t[1] = {0};
    assert_ok(ctx, nn_feed(g, nn_model_input(m), xin, 1));
    assert_ok(ctx, nn_feed(g, nn_model_target(m), t, 1));
    assert_ok(ctx, nn_forward(g));
    nn_zero_grad(g);
    assert_ok(ctx, nn_backward(g, nn_model_loss(m)));
    /* pre-activation (1.5, -1), relu (1.5, 0), output 1.5, loss 2.25,
     * dloss/doutput 3, relu's gradient (3, 3), the add's (3, 0) */
    char *dot = nn_graph_dot(g, &(struct nn_dot_cfg){.values = true, .grads = true,
                                                     .from = nn_model_loss(m)});
    assert_non_null(dot);
    char line[4096];
    node_line(dot, "dense1", line, sizeof line);
    assert_has(line, ">value [1.5, -1]<", "dense1");
    assert_has(line, ">grad [3, 0]<", "dense1");
    assert_has(line, "computed in relu1", "dense1");
    node_line(dot, "relu1", line, sizeof line);
    assert_has(line, ">value [1.5, 0]<", "relu1");
    assert_has(line, ">grad [3, 3]<", "relu1");
    assert_has(node_line(dot, "loss", line, sizeof line), ">value 2.25<", "loss");
    /* the shapes at the batch fed */
    assert_has(dot, "\"x\" -> \"dense1.matmul\" [label=\"(1, 2)\"]", "the DOT text");
    free(dot);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* With .from, nodes the backward pass's start does not depend on (a
 * model's predictions beside its loss) show no gradient; without it, the
 * zeros they hold. */
static void from_hides_unrelated_gradients(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 2});
    nn_model *m = nn_model_new(ctx, "2 dense:3 tanh dense:2 softmax", NULL);
    assert_non_null(m);
    nn_graph *g = nn_model_graph(m);
    const float xin[2] = {0.5f, -1};
    const int32_t y = 1;
    assert_ok(ctx, nn_feed(g, nn_model_input(m), xin, 1));
    assert_ok(ctx, nn_feed_labels(g, nn_model_target(m), &y, 1));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, nn_model_loss(m)));
    char line[4096];
    for (int with = 0; with < 2; with++) {
        char *dot = nn_graph_dot(g, &(struct nn_dot_cfg){
                                        .values = true, .grads = true,
                                        .from = with ? nn_model_loss(m) : NULL});
        assert_non_null(dot);
        node_line(dot, "softmax1", line, sizeof line);
        assert_has(line, ">value [", "softmax1");
        if (with)
            assert_null(strstr(line, ">grad"));
        else
            assert_has(line, ">grad [0, 0]<", "softmax1");
        assert_has(node_line(dot, "tanh1", line, sizeof line), ">grad [", "tanh1");
        assert_has(node_line(dot, "loss", line, sizeof line), ">grad 1<", "loss");
        assert_null(strstr(node_line(dot, "y", line, sizeof line), ">grad"));
        free(dot);
    }
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* A tensor of more than `entries` elements: its norm and first entries. */
static void large_tensor_shows_norm_and_entries(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    float v[10];
    for (int i = 0; i < 10; i++)
        v[i] = (float)(i + 1);
    nn_node *c = nn_const(g, "c", 1, (int64_t[]){10}, v);
    nn_node *s = nn_sum(g, c);
    /* -1 * 0 is a negative zero, written as 0 */
    nn_node *nz = nn_scale(g, nn_const(g, "zero", 1, (int64_t[]){1}, (float[]){0}), -1);
    assert_ok(ctx, nn_graph_compile(g, (nn_node *[]){s, nz}, 2, 1));
    assert_ok(ctx, nn_forward(g));
    assert_true(signbit(nn_value(nz)[0]));
    char *dot = nn_graph_dot(g, &(struct nn_dot_cfg){.values = true});
    assert_non_null(dot);
    char line[4096];
    node_line(dot, "c", line, sizeof line);
    assert_has(line, ">value norm 19.62<", "c"); /* sqrt(385) */
    assert_has(line, ">[1, 2, 3, 4, ...]<", "c");
    assert_null(strstr(line, "5, 6"));
    assert_has(node_line(dot, s->name, line, sizeof line), ">value 55<", "sum");
    assert_has(node_line(dot, nz->name, line, sizeof line), ">value 0<", "-0");
    free(dot);
    dot = nn_graph_dot(g, &(struct nn_dot_cfg){.values = true, .entries = 10});
    assert_non_null(dot);
    assert_has(node_line(dot, "c", line, sizeof line), ">value [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]<",
               "c");
    free(dot);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* Names with DOT's and HTML's special characters stay one node. */
static void names_are_escaped(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *a = nn_input(g, "say \"hi\" <b>&", 1, (int64_t[]){2});
    nn_node *r = nn_relu(g, a);
    assert_ok(ctx, nn_node_set_name(r, "back\\slash"));
    assert_ok(ctx, nn_graph_compile(g, &r, 1, 2));
    char *dot = nn_graph_dot(g, NULL);
    assert_non_null(dot);
    assert_has(dot, "\n  \"say \\\"hi\\\" <b>&\" [", "the DOT text");
    assert_has(dot, "<B>say &quot;hi&quot; &lt;b&gt;&amp;</B>", "the DOT text");
    assert_has(dot, "\"say \\\"hi\\\" <b>&\" -> \"back\\\\slash\"", "the DOT text");
    free(dot);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static void dot_errors(void **state)
{
    (void)state;
    assert_null(nn_graph_dot(NULL, NULL));
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx), *h = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){3});
    nn_node *r = nn_relu(g, x);
    assert_null(nn_graph_dot(g, NULL));
    assert_non_null(strstr(nn_ctx_error(ctx), "compile"));
    assert_ok(ctx, nn_graph_compile(g, &r, 1, 4));
    nn_ctx_clear_error(ctx);
    assert_null(nn_graph_dot(g, &(struct nn_dot_cfg){.values = true}));
    assert_non_null(strstr(nn_ctx_error(ctx), "no batch"));
    nn_node *other = nn_input(h, "other", 1, (int64_t[]){3});
    assert_ok(ctx, nn_graph_compile(h, &other, 1, 1));
    assert_null(nn_graph_dot(g, &(struct nn_dot_cfg){.from = other}));
    assert_non_null(strstr(nn_ctx_error(ctx), "'other'"));
    char *dot = nn_graph_dot(g, NULL); /* structure needs no batch */
    assert_non_null(dot);
    free(dot);
    nn_graph_free(g);
    nn_graph_free(h);
    nn_ctx_free(ctx);
}

/* Renaming: a new name, a taken one, an empty one; dense layers name
 * their product and output; a model names its layers' nodes. */
static void node_names(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){3});
    nn_node *r = nn_relu(g, x);
    assert_string_equal(nn_node_name(r), "relu_1");
    assert_ok(ctx, nn_node_set_name(r, "act"));
    assert_ptr_equal(nn_graph_find(g, "act"), r);
    assert_null(nn_graph_find(g, "relu_1"));
    assert_ok(ctx, nn_node_set_name(r, "act")); /* its own name */
    assert_int_equal(nn_node_set_name(r, "x"), NN_ERR_INVALID);
    assert_non_null(strstr(nn_ctx_error(ctx), "'act'"));
    assert_non_null(strstr(nn_ctx_error(ctx), "'x'"));
    assert_int_equal(nn_node_set_name(r, ""), NN_ERR_INVALID);
    assert_string_equal(nn_node_name(r), "act");
    nn_node *d = nn_dense(g, r, 2, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "fc");
    assert_non_null(d);
    assert_string_equal(nn_node_name(d), "fc");
    assert_non_null(nn_graph_find(g, "fc.matmul"));
    assert_null(nn_dense(g, r, 2, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "act"));
    assert_non_null(strstr(nn_ctx_error(ctx), "'act' is already used"));
    nn_graph_free(g);

    nn_model *m = nn_model_new(
        ctx, "3 dense:4 relu dropout:0.1 dense:4 sigmoid dense:4 relu dense:2 softmax", NULL);
    assert_non_null(m);
    const char *names[] = {"dense1", "relu1", "dropout1", "dense2", "sigmoid1",
                           "dense3", "relu2", "dense4", "softmax1", "loss"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!nn_graph_find(nn_model_graph(m), names[i]))
            fail_msg("the model has no node '%s'", names[i]);
    assert_string_equal(nn_node_name(nn_model_loss(m)), "loss");
    assert_string_equal(nn_node_name(nn_model_output(m)), "softmax1");
    nn_model_free(m);
    nn_ctx_free(ctx);
}

NN_GROUP(dot,
         cmocka_unit_test(mlp_has_every_node_and_edge),
         cmocka_unit_test(textbook_values_and_gradients),
         cmocka_unit_test(fused_add_shows_its_values),
         cmocka_unit_test(from_hides_unrelated_gradients),
         cmocka_unit_test(large_tensor_shows_norm_and_entries),
         cmocka_unit_test(names_are_escaped),
         cmocka_unit_test(dot_errors),
         cmocka_unit_test(node_names))
