/*
 * cli_util.c - what the tests of the nn program share: the path of the nn
 * binary built beside the runner, running a command and capturing its
 * output, writing small files, and comparing checkpoints tensor by tensor.
 */
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

const char *cli_nn(void)
{
    static char bin[4200];
    if (bin[0])
        return bin;
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(k > 0);
    self[k] = '\0';
    char *slash = strrchr(self, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(bin, sizeof bin, "%s/nn", self);
    assert_int_equal(access(bin, X_OK), 0);
    return bin;
}

int cli_run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[8192], full[8400];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof cmd)
        fail_msg("command too long (%d bytes): %.200s...", len, cmd);
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = 0;
    if (out && cap > 0) {
        n = fread(out, 1, cap - 1, p);
        out[n] = '\0';
    }
    char sink[4096]; /* the rest, so the command never blocks on a full pipe */
    while (fread(sink, 1, sizeof sink, p) > 0)
        ;
    int st = pclose(p);
    if (st == -1)
        fail_msg("pclose: %s", cmd);
    if (WIFSIGNALED(st))
        return 1000 + WTERMSIG(st);
    int code = WEXITSTATUS(st);
    return code > 128 ? 1000 + code - 128 : code;
}

void cli_write(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s", path);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

int cli_count_lines(const char *s, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = s; p && *p;) {
        if (strncmp(p, prefix, pl) == 0)
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

bool cli_tensor_equal(const char *a, const char *b, const char *name)
{
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_safetensors *x = nn_safetensors_open(ctx, a), *y = nn_safetensors_open(ctx, b);
    if (!x || !y)
        fail_msg("%s", nn_ctx_error(ctx));
    const struct nn_st_view *u = nn_safetensors_find(x, name), *v = nn_safetensors_find(y, name);
    if (!u || !v)
        fail_msg("tensor %s missing from %s", name, u ? b : a);
    bool same = u->nbytes == v->nbytes && memcmp(u->data, v->data, u->nbytes) == 0;
    nn_safetensors_close(x);
    nn_safetensors_close(y);
    nn_ctx_free(ctx);
    return same;
}

float *cli_tensor_copy(const char *file, const char *name, int64_t *n)
{
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_safetensors *st = nn_safetensors_open(ctx, file);
    if (!st)
        fail_msg("%s", nn_ctx_error(ctx));
    const struct nn_st_view *v = nn_safetensors_find(st, name);
    if (!v)
        fail_msg("%s has no tensor %s", file, name);
    float *x = malloc(v->nbytes);
    assert_non_null(x);
    memcpy(x, v->data, v->nbytes);
    *n = v->numel;
    nn_safetensors_close(st);
    nn_ctx_free(ctx);
    return x;
}

void cli_same_tensors(const char *a, const char *b)
{
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_safetensors *x = nn_safetensors_open(ctx, a), *y = nn_safetensors_open(ctx, b);
    if (!x || !y)
        fail_msg("%s", nn_ctx_error(ctx));
    assert_int_equal(nn_safetensors_count(x), nn_safetensors_count(y));
    for (int i = 0; i < nn_safetensors_count(x); i++) {
        const struct nn_st_view *u = nn_safetensors_at(x, i);
        const struct nn_st_view *v = nn_safetensors_find(y, u->name);
        if (!v)
            fail_msg("%s lacks tensor %s", b, u->name);
        if (u->nbytes != v->nbytes)
            fail_msg("tensor %s: %zu bytes in %s, %zu in %s", u->name, (size_t)u->nbytes, a,
                     (size_t)v->nbytes, b);
        if (strcmp(u->dtype, "F32") != 0) {
            if (memcmp(u->data, v->data, u->nbytes) != 0)
                fail_msg("tensor %s differs between %s and %s", u->name, a, b);
            continue;
        }
        const float *p = u->data, *q = v->data;
        for (int64_t k = 0; k < u->numel; k++)
            if (memcmp(&p[k], &q[k], sizeof(float)) != 0)
                fail_msg("%s[%lld]: %.9g in %s, %.9g in %s", u->name, (long long)k,
                         (double)p[k], a, (double)q[k], b);
    }
    nn_safetensors_close(x);
    nn_safetensors_close(y);
    nn_ctx_free(ctx);
}

int cli_tmpdir(char *dir, size_t cap, const char *tag)
{
    int n = snprintf(dir, cap, "/tmp/nn-%s-XXXXXX", tag);
    return n > 0 && (size_t)n < cap && mkdtemp(dir) ? 0 : -1;
}

int cli_rmdir(const char *dir)
{
    char cmd[1100];
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return n > 0 && (size_t)n < sizeof cmd && system(cmd) == 0 ? 0 : -1;
}

void cli_write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data,
                   size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot write %s", path);
    uint8_t head[4] = {0, 0, 8, (uint8_t)ndim};
    assert_int_equal(fwrite(head, 1, 4, f), 4);
    for (int i = 0; i < ndim; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16),
                        (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        assert_int_equal(fwrite(d, 1, 4, f), 4);
    }
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

int cli_write_sine(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/sine.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "x,y\n");
    unsigned s = 11;
    for (int i = 0; i < 40; i++) {
        double noise = 0;
        for (int j = 0; j < 4; j++) { /* about normal, sd 0.1 */
            s = s * 1103515245u + 12345u;
            noise += (((s >> 8) & 0xffff) / 65536.0 - 0.5) * 0.17;
        }
        s = s * 1103515245u + 12345u;
        double x = ((s >> 8) & 0xffff) / 65536.0;
        fprintf(f, "%.5f,%.5f\n", x, sin(6.283185307179586 * x) + noise);
    }
    return fclose(f) == 0 ? 0 : -1;
}

void nn_test_bad_specs(const struct nn_test_bad_spec *bad, size_t n)
{
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    for (size_t i = 0; i < n; i++) {
        nn_ctx_clear_error(ctx);
        nn_model *m = nn_model_new(ctx, bad[i].spec, NULL);
        if (m)
            fail_msg("spec '%s' was accepted", bad[i].spec);
        if (!strstr(nn_ctx_error(ctx), bad[i].needle))
            fail_msg("spec '%s': message '%s' lacks '%s'", bad[i].spec, nn_ctx_error(ctx),
                     bad[i].needle);
    }
    nn_ctx_free(ctx);
}

pid_t cli_spawn(const char *cmd)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

void cli_read(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}
