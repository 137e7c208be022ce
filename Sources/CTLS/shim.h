// OpenSSL (Debian: libssl-dev) for TLS on the server's sockets. The wrappers below
// exist because these OpenSSL calls are macros, which Swift cannot import.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/evp.h>

/// TLS 1.2 or newer; partial writes from a buffer that may move between retries
/// (the connection's output buffer grows while a write waits); buffers released
/// while a connection is idle; no renegotiation (a CPU-exhaustion vector).
static inline int ecg_tls_configure(SSL_CTX *ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return 0;
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    return 1;
}
