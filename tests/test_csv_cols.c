/*
 * test_csv_cols.c - the CSV loader's column options: columns left out
 * (nn_csv_opts.ignore), another file read in the layout of a training
 * file (by name in any order, or by position with its count checked, the
 * label optional), the columns a data set reports, and the NN_CSV_AUTO
 * rule for classes (whole numbers, at most NN_CSV_AUTO_MAX_LEVELS values).
 */
#include "test.h"

#include "data/data.h"

static nn_dataset *mem(nn_ctx *ctx, const char *text, const struct nn_csv_opts *o)
{
    return nn_csv_load_mem(ctx, "t.csv", (const uint8_t *)text, strlen(text), o);
}

static void ignore_and_columns(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_dataset *ds = mem(ctx, "id,a,b,y\n10,1,2,0\n11,3,4,1\n",
                         &(struct nn_csv_opts){.label = "y", .ignore = "id"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_features(ds), 2);
    assert_string_equal(nn_dataset_feature_name(ds, 0), "a");
    assert_int_equal(nn_dataset_columns(ds), 4);
    nn_column_role role;
    assert_string_equal(nn_dataset_column(ds, 0, &role), "id");
    assert_int_equal(role, NN_COLUMN_IGNORED);
    nn_dataset_column(ds, 3, &role);
    assert_int_equal(role, NN_COLUMN_LABEL);
    nn_dataset_column(ds, 1, &role);
    assert_int_equal(role, NN_COLUMN_FEATURE);
    float x[2];
    assert_int_equal(nn_dataset_fit_norm(ds, NN_NORM_NONE), NN_OK);
    assert_int_equal(nn_dataset_row(ds, 1, x), NN_OK);
    assert_true(x[0] == 3 && x[1] == 4);
    nn_dataset_free(ds);
    /* an unknown column: named, with the nearest */
    assert_null(mem(ctx, "id,a,b,y\n10,1,2,0\n",
                    &(struct nn_csv_opts){.label = "y", .ignore = "iid"}));
    assert_non_null(strstr(nn_ctx_error(ctx), "ignore column 'iid' not found"));
    assert_non_null(strstr(nn_ctx_error(ctx), "did you mean 'id'?"));
    /* a column both label and ignored */
    assert_null(mem(ctx, "id,a,b,y\n10,1,2,0\n",
                    &(struct nn_csv_opts){.label = "y", .ignore = "y"}));
    assert_non_null(strstr(nn_ctx_error(ctx), "given twice"));
    nn_ctx_free(ctx);
}

static void layout_by_name_and_position(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    const char *const cols[] = {"id", "a", "b", "y"};
    struct nn_csv_opts o = {.label = "-1", .ignore = "id", .columns = cols, .ncolumns = 4,
                            .task = NN_CSV_CLASSIFY};
    /* by name: another order, an extra column */
    nn_dataset *ds = mem(ctx, "b,x,y,a\n2,9,1,1\n4,9,0,3\n", &o);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_features(ds), 2);
    assert_int_equal(nn_dataset_fit_norm(ds, NN_NORM_NONE), NN_OK);
    float x[2];
    int32_t y[2];
    assert_int_equal(nn_dataset_row(ds, 1, x), NN_OK);
    assert_true(x[0] == 3 && x[1] == 4); /* a, b in the layout's order */
    assert_int_equal(nn_dataset_gather(ds, (int64_t[]){0, 1}, 2, NULL, y, NULL), NN_OK);
    assert_true(y[0] == 1 && y[1] == 0);
    nn_dataset_free(ds);
    /* a missing feature column */
    assert_null(mem(ctx, "b,y\n2,1\n", &o));
    assert_non_null(strstr(nn_ctx_error(ctx), "t.csv: column 'a' is missing"));
    /* the label optional: a file without it has no labels */
    o.label_optional = true;
    ds = mem(ctx, "a,b\n1,2\n", &o);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_NONE);
    nn_dataset_free(ds);
    /* by position, with or without the label; another count is an error */
    ds = mem(ctx, "5,1,2,1\n6,3,4,0\n", &o);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_features(ds), 2);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    nn_dataset_free(ds);
    ds = mem(ctx, "5,1,2\n", &o);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_NONE);
    nn_dataset_free(ds);
    assert_null(mem(ctx, "1,2\n3,4\n", &o));
    assert_non_null(strstr(nn_ctx_error(ctx), "t.csv has 2 columns"));
    assert_non_null(strstr(nn_ctx_error(ctx), "had 4, or 3 without the label"));
    nn_ctx_free(ctx);
}

static void auto_classes_by_levels(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    /* 0.00000 / 1.00000: two classes, indices 0 and 1 */
    nn_dataset *ds = mem(ctx, "x,y\n1,0.00000\n2,1.00000\n3,1.00000\n",
                         &(struct nn_csv_opts){.label = "y"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    assert_int_equal(nn_dataset_classes(ds), 2);
    nn_dataset_free(ds);
    /* -1 / 1: named classes in numeric order */
    ds = mem(ctx, "x,y\n1,1\n2,-1\n3,1\n", &(struct nn_csv_opts){.label = "y"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    assert_string_equal(nn_dataset_class_name(ds, 0), "-1");
    assert_string_equal(nn_dataset_class_name(ds, 1), "1");
    nn_dataset_free(ds);
    /* more levels than NN_CSV_AUTO_MAX_LEVELS: a quantity */
    char text[1024];
    size_t k = (size_t)snprintf(text, sizeof text, "x,y\n");
    for (int i = 0; i <= NN_CSV_AUTO_MAX_LEVELS; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%d,%d\n", i, i);
    ds = mem(ctx, text, &(struct nn_csv_opts){.label = "y"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_TARGETS);
    nn_dataset_free(ds);
    /* one level fewer: classes */
    char *last = strrchr(text, '\n');
    *last = '\0';
    *(strrchr(text, '\n') + 1) = '\0';
    ds = mem(ctx, text, &(struct nn_csv_opts){.label = "y"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    assert_int_equal(nn_dataset_classes(ds), NN_CSV_AUTO_MAX_LEVELS);
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

NN_GROUP(csv_cols,
         cmocka_unit_test(ignore_and_columns),
         cmocka_unit_test(layout_by_name_and_position),
         cmocka_unit_test(auto_classes_by_levels))
