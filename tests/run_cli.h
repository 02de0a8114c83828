/* Runs the kestrel binary as a user would and captures what it prints. */
#ifndef KESTREL_TEST_RUN_CLI_H
#define KESTREL_TEST_RUN_CLI_H

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    int status;    /* exit code, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
} cli_result;

static char *cli_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    *len = 0;
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* argv[0] is replaced by the kestrel binary; the list ends with NULL. */
static cli_result run_kestrel(const char *const *args)
{
    cli_result r = { 0 };
    char out_path[] = "/tmp/kestrel-test-out-XXXXXX", err_path[] = "/tmp/kestrel-test-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    const char *argv[64];
    int n = 0;
    argv[n++] = test_kestrel_bin();
    for (int i = 1; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0) {
        r.status = -1;
    } else {
        int st;
        waitpid(pid, &st, 0);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(out_fd);
    close(err_fd);
    r.out = cli_slurp(out_path, &r.out_len);
    r.err = cli_slurp(err_path, &r.err_len);
    unlink(out_path);
    unlink(err_path);
    return r;
}

static void cli_result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#endif
