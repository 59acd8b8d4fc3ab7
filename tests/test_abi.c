/*
 * test_abi.c - the library boundary: the shared library beside this runner
 * exports exactly the functions include/nn.h declares, every one of them
 * marked NN_API, and carries a SONAME.
 */
#include "test.h"

#include <ctype.h>
#include <unistd.h>

#define MAXN 1024

struct names {
    char *v[MAXN];
    int n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add(struct names *s, const char *name, size_t len)
{
    assert_true(s->n < MAXN);
    s->v[s->n] = malloc(len + 1);
    memcpy(s->v[s->n], name, len);
    s->v[s->n][len] = '\0';
    s->n++;
}

static void free_names(struct names *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

/* nn.h without comments or preprocessor lines, in one malloc'd string. */
static char *header_code(void)
{
    FILE *f = fopen(nn_test_path("../include/nn.h"), "r");
    if (!f)
        fail_msg("cannot open %s", nn_test_path("../include/nn.h"));
    char *code = calloc(1, 1 << 20);
    size_t k = 0;
    char line[4096];
    bool in_comment = false;
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ')
            p++;
        if (!in_comment && *p == '#') {
            /* skip the directive and its continuation lines */
            while (strchr(line, '\\') && fgets(line, sizeof line, f)) {
            }
            continue;
        }
        for (size_t i = 0; line[i]; i++) {
            if (in_comment) {
                if (line[i] == '*' && line[i + 1] == '/')
                    in_comment = false, i++;
            } else if (line[i] == '/' && line[i + 1] == '*') {
                in_comment = true, i++;
            } else if (line[i] == '/' && line[i + 1] == '/') {
                break;
            } else {
                code[k++] = line[i];
            }
        }
        assert_true(k < (1 << 20) - 4096);
    }
    fclose(f);
    return code;
}

/* The functions nn.h declares at file scope (outside struct and enum
 * bodies); *unmarked counts declarations that lack NN_API. */
static void declared(struct names *s, int *unmarked)
{
    char *code = header_code();
    *unmarked = 0;
    int depth = 0;
    char *stmt = code;
    for (char *p = code; *p; p++) {
        if (*p == '{') {
            /* extern "C" { is not a body */
            depth += strncmp(stmt + strspn(stmt, " \n\t;}"), "extern", 6) != 0;
            if (depth == 0)
                stmt = p + 1;
        } else if (*p == '}') {
            if (depth > 0)
                depth--;
            if (depth == 0)
                stmt = p + 1;
        } else if (*p == ';' && depth == 0) {
            char *b = stmt + strspn(stmt, " \n\t");
            char *paren = memchr(b, '(', (size_t)(p - b));
            if (paren && strncmp(b, "typedef", 7) != 0 && strncmp(b, "static", 6) != 0) {
                char *e = paren;
                while (e > b && isspace((unsigned char)e[-1]))
                    e--;
                char *q = e;
                while (q > b && (isalnum((unsigned char)q[-1]) || q[-1] == '_'))
                    q--;
                if (strncmp(b, "NN_API", 6) != 0) {
                    print_error("nn.h declares %.*s without NN_API\n", (int)(e - q), q);
                    (*unmarked)++;
                }
                add(s, q, (size_t)(e - q));
            }
            stmt = p + 1;
        }
    }
    free(code);
}

/* The runner's directory, where make puts libnn.so. */
static void lib_path(char *buf, size_t cap)
{
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(k > 0);
    self[k] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(buf, cap, "%s/libnn.so", self);
    if (access(buf, R_OK) != 0)
        fail_msg("%s is missing (make builds it beside the test runner)", buf);
}

static void exported(struct names *s)
{
    char lib[4200], cmd[4300], line[512];
    lib_path(lib, sizeof lib);
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, name) == 3)
            add(s, name, strlen(name));
    }
    assert_int_equal(pclose(p), 0);
}

static void exports_are_exactly_the_header(void **state)
{
    (void)state;
    struct names h = {0}, so = {0};
    int unmarked;
    declared(&h, &unmarked);
    exported(&so);
    /* the parse found the header's functions (nn.h has about 200) */
    if (h.n < 150)
        fail_msg("found only %d declarations in nn.h", h.n);
    qsort(h.v, (size_t)h.n, sizeof *h.v, cmp_str);
    qsort(so.v, (size_t)so.n, sizeof *so.v, cmp_str);
    int i = 0, j = 0, missing = 0, extra = 0;
    while (i < h.n || j < so.n) {
        int c = i >= h.n ? 1 : j >= so.n ? -1 : strcmp(h.v[i], so.v[j]);
        if (c < 0) {
            print_error("declared in nn.h, not exported: %s\n", h.v[i++]);
            missing++;
        } else if (c > 0) {
            print_error("exported, not declared in nn.h: %s\n", so.v[j++]);
            extra++;
        } else {
            i++, j++;
        }
    }
    free_names(&h);
    free_names(&so);
    assert_int_equal(unmarked, 0);
    assert_int_equal(missing, 0);
    assert_int_equal(extra, 0);
}

static void shared_library_has_soname(void **state)
{
    (void)state;
    char lib[4200], cmd[4300], out[512] = "";
    lib_path(lib, sizeof lib);
    snprintf(cmd, sizeof cmd, "readelf -d '%s'", lib);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    while (fgets(line, sizeof line, p))
        if (strstr(line, "SONAME"))
            snprintf(out, sizeof out, "%s", line);
    assert_int_equal(pclose(p), 0);
    char want[64];
    snprintf(want, sizeof want, "[libnn.so.%d]", NN_VERSION_MAJOR);
    if (!strstr(out, want))
        fail_msg("SONAME is not %s: '%s'", want, out);
}

NN_GROUP(abi,
         cmocka_unit_test(exports_are_exactly_the_header),
         cmocka_unit_test(shared_library_has_soname))
