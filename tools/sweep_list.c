/*
 * sweep_list.c - the lists of an nn sweep command line: {a,b,c} and
 * {A..B} or {A..B..S} in any flag's value (a spec's numbers included),
 * the settings they span, each setting's arguments, and the command's
 * canonical text that a resumed sweep compares.
 */
#include "cli.h"
#include "sweep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUES 10000

static bool add_value(struct sweep_axis *a, const char *s, size_t len)
{
    if (a->n >= MAX_VALUES) {
        cli_fail("sweep", "a list has more than %d values", MAX_VALUES);
        return false;
    }
    char **v = realloc(a->vals, (size_t)(a->n + 1) * sizeof *v);
    if (!v)
        return cli_fail("sweep", "out of memory"), false;
    a->vals = v;
    if (!(v[a->n] = malloc(len + 1)))
        return cli_fail("sweep", "out of memory"), false;
    memcpy(v[a->n], s, len);
    v[a->n++][len] = '\0';
    return true;
}

/* An integer filling s[0..len) exactly. */
static bool integer(const char *s, size_t len, long long *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return *end == '\0' && errno == 0;
}

/* {A..B} or {A..B..S}: A, A+S, ... up to B (S > 0, A <= B). */
static bool expand_range(struct sweep_axis *a, const char *body, size_t len, const char *arg)
{
    const char *dots = strstr(body, "..");
    const char *dots2 = dots ? strstr(dots + 2, "..") : NULL;
    if (dots2 && dots2 >= body + len)
        dots2 = NULL;
    size_t l1 = (size_t)(dots - body);
    size_t l2 = (size_t)((dots2 ? dots2 : body + len) - (dots + 2));
    long long from, to, step = 1;
    if (!integer(body, l1, &from) || !integer(dots + 2, l2, &to) ||
        (dots2 && !integer(dots2 + 2, (size_t)(body + len - dots2 - 2), &step))) {
        cli_fail("sweep", "'%.*s' in '%s' is not a range: it must be {FROM..TO} or "
                 "{FROM..TO..STEP} of integers, e.g. {1..12} or {1..12..2} (or a list: {a,b,c})",
                 (int)len + 2, body - 1, arg);
        return false;
    }
    if (step <= 0) {
        cli_fail("sweep", "'{%.*s}' in '%s': the step must be positive", (int)len, body, arg);
        return false;
    }
    if (from > to) {
        cli_fail("sweep", "'{%.*s}' in '%s' has no values (%lld > %lld): the sweep would "
                 "have zero combinations", (int)len, body, arg, from, to);
        return false;
    }
    if ((to - from) / step >= MAX_VALUES) {
        cli_fail("sweep", "'{%.*s}' in '%s' has more than %d values", (int)len, body, arg,
                 MAX_VALUES);
        return false;
    }
    for (long long v = from; v <= to; v += step) {
        char buf[32];
        int k = snprintf(buf, sizeof buf, "%lld", v);
        if (!add_value(a, buf, (size_t)k))
            return false;
    }
    return true;
}

/* {a,b,c}: non-empty items. */
static bool expand_items(struct sweep_axis *a, const char *body, size_t len, const char *arg)
{
    const char *s = body, *end = body + len;
    for (;;) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        const char *e = c ? c : end;
        if (e == s) {
            cli_fail("sweep", "'{%.*s}' in '%s' has an empty item (a list is {a,b,c}, a range "
                     "{FROM..TO})", (int)len, body, arg);
            return false;
        }
        if (!add_value(a, s, (size_t)(e - s)))
            return false;
        if (!c)
            return true;
        s = c + 1;
    }
}

/* The flag whose value argv[i] is, or NULL (argv[i] is a flag itself). */
static const char *flag_of(int argc, char **argv, int i, size_t *skip)
{
    (void)argc;
    const char *a = argv[i];
    *skip = 0;
    if (a[0] == '-' && a[1] == '-') {
        const char *eq = strchr(a, '=');
        if (!eq)
            return NULL;
        *skip = (size_t)(eq + 1 - a);
        return a + 2;
    }
    if (i > 0 && argv[i - 1][0] == '-' && argv[i - 1][1] == '-' && !strchr(argv[i - 1], '='))
        return argv[i - 1] + 2;
    return "";
}

static bool parse_arg(int argc, char **argv, int i, struct sweep_plan *p)
{
    const char *arg = argv[i];
    size_t skip;
    const char *flag = flag_of(argc, argv, i, &skip);
    int nth = 0;
    for (size_t j = 0; arg[j]; j++) {
        if (arg[j] == '}') {
            cli_fail("sweep", "'%s' has a '}' without its '{'", arg);
            return false;
        }
        if (arg[j] != '{')
            continue;
        if (!flag || j < skip) {
            cli_fail("sweep", "'%s': a list goes in a flag's value, not in its name", arg);
            return false;
        }
        const char *close = strchr(arg + j + 1, '}');
        const char *open2 = strchr(arg + j + 1, '{');
        if (!close || (open2 && open2 < close)) {
            cli_fail("sweep", "'%s' has a '{' without its '}'", arg);
            return false;
        }
        if (p->naxes >= SWEEP_MAX_AXES) {
            cli_fail("sweep", "more than %d lists", SWEEP_MAX_AXES);
            return false;
        }
        struct sweep_axis *a = &p->axes[p->naxes++];
        a->arg = i;
        a->start = j;
        a->end = (size_t)(close - arg) + 1;
        nth++;
        size_t fl = strcspn(flag, "=");
        snprintf(a->name, sizeof a->name, nth > 1 ? "%.*s#%d" : "%.*s", (int)(fl < 40 ? fl : 40),
                 *flag ? flag : "arg", nth);
        const char *body = arg + j + 1;
        size_t len = (size_t)(close - body);
        const char *dots = strstr(body, "..");
        bool range = dots && dots < close && !memchr(body, ',', len);
        if (!(range ? expand_range(a, body, len, arg) : expand_items(a, body, len, arg)))
            return false;
        j = a->end - 1;
    }
    return true;
}

bool sweep_plan_parse(int argc, char **argv, struct sweep_plan *p)
{
    memset(p, 0, sizeof *p);
    p->argc = argc;
    p->argv = argv;
    for (int i = 0; i < argc; i++)
        if (!parse_arg(argc, argv, i, p))
            return false;
    p->settings = 1;
    for (int a = 0; a < p->naxes; a++) {
        if (p->settings > SWEEP_MAX_RUNS) /* the product is refused later; no overflow */
            break;
        p->settings *= p->axes[a].n;
    }
    return true;
}

void sweep_plan_free(struct sweep_plan *p)
{
    for (int a = 0; a < p->naxes; a++) {
        for (int i = 0; i < p->axes[a].n; i++)
            free(p->axes[a].vals[i]);
        free(p->axes[a].vals);
    }
    p->naxes = 0;
}

const char *sweep_value(const struct sweep_plan *p, long k, int a)
{
    for (int b = p->naxes - 1; b > a; b--)
        k /= p->axes[b].n;
    return p->axes[a].vals[k % p->axes[a].n];
}

void sweep_setting_text(const struct sweep_plan *p, long k, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < p->naxes && used < n; a++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", a ? "/" : "", sweep_value(p, k, a));
    if (p->naxes == 0)
        snprintf(buf, n, "-");
}

char **sweep_setting_argv(const struct sweep_plan *p, long k)
{
    char **v = calloc((size_t)p->argc + 1, sizeof *v);
    if (!v)
        return NULL;
    for (int i = 0; i < p->argc; i++) {
        size_t len = strlen(p->argv[i]) + 1;
        for (int a = 0; a < p->naxes; a++)
            if (p->axes[a].arg == i)
                len += strlen(sweep_value(p, k, a));
        if (!(v[i] = malloc(len))) {
            sweep_argv_free(v, p->argc);
            return NULL;
        }
        size_t from = 0, used = 0;
        for (int a = 0; a < p->naxes; a++) {
            if (p->axes[a].arg != i)
                continue;
            const struct sweep_axis *ax = &p->axes[a];
            used += (size_t)sprintf(v[i] + used, "%.*s%s", (int)(ax->start - from),
                                    p->argv[i] + from, sweep_value(p, k, a));
            from = ax->end;
        }
        strcpy(v[i] + used, p->argv[i] + from);
    }
    return v;
}

void sweep_argv_free(char **argv, int argc)
{
    if (!argv)
        return;
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The flags that do not change a sweep's results. */
static bool ignored(const char *line)
{
    return strncmp(line, "jobs=", 5) == 0 || strncmp(line, "quiet=", 6) == 0;
}

char *sweep_command_text(int argc, char **argv)
{
    char **lines = calloc((size_t)argc + 1, sizeof *lines);
    size_t total = 1;
    int n = 0;
    if (!lines)
        return NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] != '-')
            continue; /* a value, taken with its flag */
        const char *eq = strchr(a, '=');
        bool has_val = !eq && i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-');
        const char *val = eq ? eq + 1 : has_val ? argv[i + 1] : "";
        size_t fl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        size_t len = fl + strlen(val) + 2;
        if (!(lines[n] = malloc(len)))
            goto fail;
        snprintf(lines[n], len, "%.*s=%s", (int)fl, a + 2, val);
        if (ignored(lines[n])) {
            free(lines[n]);
            continue;
        }
        total += len;
        n++;
    }
    qsort(lines, (size_t)n, sizeof *lines, cmp_str);
    char *text = malloc(total);
    if (text) {
        size_t used = 0;
        text[0] = '\0';
        for (int i = 0; i < n; i++)
            used += (size_t)sprintf(text + used, "%s\n", lines[i]);
    }
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return text;
fail:
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return NULL;
}

/* The value of flag (name=...) in a command text, or NULL; its length in *len. */
static const char *find_flag(const char *text, const char *name, size_t nlen, size_t *len)
{
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t ll = nl ? (size_t)(nl - s) : strlen(s);
        if (ll > nlen && strncmp(s, name, nlen) == 0 && s[nlen] == '=') {
            *len = ll - nlen - 1;
            return s + nlen + 1;
        }
        s += ll + (nl != NULL);
    }
    return NULL;
}

/* The first flag of a whose value differs in b (or is missing). */
static bool first_diff(const char *a, const char *b, bool a_saved, char *buf, size_t n)
{
    for (const char *s = a; *s;) {
        const char *nl = strchr(s, '\n');
        size_t ll = nl ? (size_t)(nl - s) : strlen(s);
        const char *eq = memchr(s, '=', ll);
        size_t nlen = eq ? (size_t)(eq - s) : ll, vl = 0;
        const char *val = eq ? eq + 1 : "", *other = find_flag(b, s, nlen, &vl);
        size_t al = eq ? ll - nlen - 1 : 0;
        if (!other || vl != al || strncmp(val, other, al) != 0) {
            const char *vs = a_saved ? val : other, *vn = a_saved ? other : val;
            int ls = (int)(a_saved ? al : vl), ln = (int)(a_saved ? vl : al);
            snprintf(buf, n, "--%.*s was %s%.*s%s, now %s%.*s%s", (int)nlen, s,
                     vs ? "'" : "", vs ? ls : 6, vs ? vs : "absent", vs ? "'" : "",
                     vn ? "'" : "", vn ? ln : 6, vn ? vn : "absent", vn ? "'" : "");
            return true;
        }
        s += ll + (nl != NULL);
    }
    return false;
}

bool sweep_command_diff(const char *saved, const char *now, char *buf, size_t n)
{
    return first_diff(saved, now, true, buf, n) || first_diff(now, saved, false, buf, n);
}
