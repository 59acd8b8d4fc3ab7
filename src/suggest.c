/*
 * suggest.c - "did you mean ...?": the known name nearest to a mistyped
 * one, for messages about unknown layers and schedules.
 */
#include "nn_impl.h"

#include <string.h>

int nn_edit_distance(const char *a, const char *b)
{
    size_t n = strlen(b);
    if (n > 62 || strlen(a) > 62)
        return 9;
    int row[64];
    for (size_t j = 0; j <= n; j++)
        row[j] = (int)j;
    for (size_t i = 1; a[i - 1]; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= n; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[n] < 9 ? row[n] : 9;
}

const char *nn_nearest_name(const char *word, const char *const *names, int n)
{
    const char *best = NULL;
    int bd = 3; /* at most two edits, and fewer than the word's length */
    int len = (int)strlen(word);
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int d = nn_edit_distance(word, names[i]);
        if (d < bd && d < len)
            bd = d, best = names[i];
    }
    return best;
}
