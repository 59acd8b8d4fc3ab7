/*
 * test_abi.c - the library boundary: the shared library beside this runner
 * exports exactly the functions include/nn.h and the sub-headers it
 * includes (include/nn/NAME.h) declare, every one of them marked NN_API, and
 * carries a SONAME.
 */
#include "test.h"

#include <ctype.h>
#include <dirent.h>
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

/* The public headers' code without comments or preprocessor lines. */
struct code {
    char *text; /* (1 << 20) */
    size_t k;
    char seen[16][4096]; /* headers read, so that each is read once */
    int nseen;
};

static void read_header(struct code *c, const char *path);

/* A line's `#include "NAME"`, read as the compiler does: NAME beside the
 * including file. Other directives are skipped. */
static void follow_include(struct code *c, const char *path, const char *line)
{
    const char *p = line + strspn(line, " \t#");
    if (strncmp(p, "include", 7) != 0)
        return;
    p = strchr(p, '"');
    const char *q = p ? strchr(p + 1, '"') : NULL;
    if (!q)
        return; /* <system.h> */
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path + 1) : 0;
    char sub[4096];
    snprintf(sub, sizeof sub, "%.*s%.*s", dir, path, (int)(q - p - 1), p + 1);
    read_header(c, sub);
}

static void read_header(struct code *c, const char *path)
{
    for (int i = 0; i < c->nseen; i++)
        if (strcmp(c->seen[i], path) == 0)
            return;
    assert_true(c->nseen < 16);
    snprintf(c->seen[c->nseen], sizeof c->seen[0], "%s", path);
    path = c->seen[c->nseen++];
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char line[4096];
    bool in_comment = false;
    while (fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ')
            p++;
        if (!in_comment && *p == '#') {
            follow_include(c, path, p);
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
                c->text[c->k++] = line[i];
            }
        }
        assert_true(c->k < (1 << 20) - 4096);
    }
    fclose(f);
    c->text[c->k++] = '\n';
}

/* nn.h and the sub-headers it includes, in one malloc'd string. */
static char *header_code(void)
{
    struct code *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->text = calloc(1, 1 << 20);
    assert_non_null(c->text);
    read_header(c, nn_test_path("../include/nn.h"));
    if (c->nseen < 2)
        fail_msg("nn.h includes none of include/nn/*.h");
    char *text = c->text;
    free(c);
    return text;
}

/* The functions the headers declare at file scope (outside struct and enum
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
                    print_error("the headers declare %.*s without NN_API\n", (int)(e - q), q);
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
    /* the parse found the headers' functions (they have about 200) */
    if (h.n < 150)
        fail_msg("found only %d declarations in the headers", h.n);
    qsort(h.v, (size_t)h.n, sizeof *h.v, cmp_str);
    qsort(so.v, (size_t)so.n, sizeof *so.v, cmp_str);
    int i = 0, j = 0, missing = 0, extra = 0;
    while (i < h.n || j < so.n) {
        int c = i >= h.n ? 1 : j >= so.n ? -1 : strcmp(h.v[i], so.v[j]);
        if (c < 0) {
            print_error("declared in the headers, not exported: %s\n", h.v[i++]);
            missing++;
        } else if (c > 0) {
            print_error("exported, not declared in the headers: %s\n", so.v[j++]);
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

/* Whether nn.h has the line #include "nn/NAME". */
static bool umbrella_includes(const char *name)
{
    FILE *f = fopen(nn_test_path("../include/nn.h"), "r");
    assert_non_null(f);
    char line[512], want[300];
    snprintf(want, sizeof want, "#include \"nn/%s\"", name);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, want, strlen(want)) == 0;
    fclose(f);
    return found;
}

/* Every include/nn/NAME.h compiles alone, without warnings, and nn.h
 * includes it. */
static void sub_headers_stand_alone(void **state)
{
    (void)state;
    char inc[4096];
    snprintf(inc, sizeof inc, "%s", nn_test_path("../include"));
    DIR *d = opendir(nn_test_path("../include/nn"));
    if (!d)
        fail_msg("cannot open %s", nn_test_path("../include/nn"));
    int n = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
            continue;
        n++;
        char cmd[8600];
        snprintf(cmd, sizeof cmd,
                 "printf '#include \"nn/%s\"\\n' | cc -std=c11 -Wall -Wextra -Wpedantic "
                 "-Wstrict-prototypes -Werror -fsyntax-only -I'%s' -x c - 2>&1",
                 e->d_name, inc);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char line[512];
        while (fgets(line, sizeof line, p))
            print_error("%s", line);
        if (pclose(p) != 0) {
            print_error("include/nn/%s does not compile on its own\n", e->d_name);
            bad++;
        }
        if (!umbrella_includes(e->d_name)) {
            print_error("include/nn.h does not include nn/%s\n", e->d_name);
            bad++;
        }
    }
    closedir(d);
    if (n < 2)
        fail_msg("found only %d headers in include/nn", n);
    assert_int_equal(bad, 0);
}

NN_GROUP(abi,
         cmocka_unit_test(exports_are_exactly_the_header),
         cmocka_unit_test(sub_headers_stand_alone),
         cmocka_unit_test(shared_library_has_soname))
