#define _GNU_SOURCE
// Open-loop load at a fixed rate, for latency percentiles at a fraction of max load.
// Each of T threads owns one keep-alive connection and sends at its share of the rate on
// a fixed schedule; latency is measured from the scheduled send time, so a slow answer
// delays the next sends and is charged to them too (no coordinated omission).
// Build: cc -O2 -pthread -o bench/out/paced bench/paced.c
// Usage: paced PORT BODY_FILE RATE_PER_S SECONDS [THREADS [PATH]]  → "p50 p90 p99 errors n" (ms)
// PATH defaults to /embed; the body is sent as application/json.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port; static char *req; static size_t reqlen; static double rate, secs; static int nthreads;
static double *lat; static int nlat, errors; static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

// Reads one response (Content-Length framed); returns the status or -1.
static int response(int fd) {
    static __thread char buf[1 << 20];
    size_t n = 0; char *end = NULL;
    while (!(end = memmem(buf, n, "\r\n\r\n", 4))) {
        ssize_t r = recv(fd, buf + n, sizeof buf - n, 0); if (r <= 0) return -1; n += r;
    }
    int status = atoi(buf + 9);
    char *cl = memmem(buf, end - buf, "Content-Length: ", 16);
    size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0, have = n - (end + 4 - buf);
    while (have < body) { ssize_t r = recv(fd, buf, sizeof buf, 0); if (r <= 0) return -1; have += r; }
    return status;
}

static void *run(void *arg) {
    int id = (int)(long)arg, fd = dial();
    double t0 = now() + 0.05, period = nthreads / rate;
    for (double due = t0 + id * (1.0 / rate); due < t0 + secs; due += period) {
        double w = due - now(); if (w > 0) usleep((useconds_t)(w * 1e6));
        int ok = fd >= 0 && send(fd, req, reqlen, MSG_NOSIGNAL) == (ssize_t)reqlen && response(fd) == 200;
        double l = (now() - due) * 1000;
        pthread_mutex_lock(&mu);
        if (ok) lat[nlat++] = l; else errors++;
        pthread_mutex_unlock(&mu);
        if (!ok) { if (fd >= 0) close(fd); fd = dial(); }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: paced PORT BODY RATE SECONDS [THREADS [PATH]]\n"); return 2; }
    port = atoi(argv[1]); rate = atof(argv[3]); secs = atof(argv[4]); nthreads = argc > 5 ? atoi(argv[5]) : 16;
    FILE *f = fopen(argv[2], "rb"); if (!f) { perror(argv[2]); return 2; }
    fseek(f, 0, SEEK_END); long bl = ftell(f); fseek(f, 0, SEEK_SET);
    char *body = malloc(bl); if (fread(body, 1, bl, f) != (size_t)bl) return 2; fclose(f);
    req = malloc(bl + 512);
    const char *path = argc > 6 ? argv[6] : "/embed";
    if (strlen(path) > 128) { fprintf(stderr, "path too long\n"); return 2; }
    reqlen = sprintf(req, "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %ld\r\n\r\n", path, bl);
    memcpy(req + reqlen, body, bl); reqlen += bl;
    lat = malloc(sizeof(double) * (size_t)(rate * secs + nthreads + 16));
    pthread_t th[256];
    for (long i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, run, (void *)i);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    qsort(lat, nlat, sizeof(double), cmp);
    #define Q(p) (nlat ? lat[(int)((p) * (nlat - 1))] : 0.0)
    printf("%.2f %.2f %.2f %d %d\n", Q(0.5), Q(0.9), Q(0.99), errors, nlat);
    return 0;
}
