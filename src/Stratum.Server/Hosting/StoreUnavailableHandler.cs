using System.Data.Common;
using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;

namespace Stratum.Server.Hosting;

/// <summary>
/// Turns "the metadata store cannot be reached" (PostgreSQL stopped, restarting or unreachable) into
/// 503 with a Retry-After and a problem document, instead of a 500 and a stack trace in the log for
/// every request. The request changed nothing: a write either committed before the loss (and an
/// idempotent retry returns it) or did not happen. Any other error stays a 500.
/// </summary>
public sealed partial class StoreUnavailableHandler(IProblemDetailsService problems, ILogger<StoreUnavailableHandler> logger) : IExceptionHandler
{
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsStoreUnavailable(exception))
        {
            return false;
        }

        // The message only: it names the failure (connection refused, shutting down) and never the connection string.
        LogUnavailable(logger, httpContext.Request.Method, httpContext.Request.Path, exception.GetBaseException().Message);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "The metadata store is unavailable",
                Detail = $"The server cannot reach its database right now; nothing was changed unless an earlier identical request with the same Idempotency-Key succeeded. Retry in {RetryAfterSeconds} seconds.",
            },
        });
    }

    /// <summary>A transient database failure (DbException.IsTransient: connection refused, server shutting down or starting) or a socket error under one.</summary>
    public static bool IsStoreUnavailable(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is DbException { IsTransient: true } or SocketException || (e is DbException && e.InnerException is SocketException or IOException or TimeoutException))
            {
                return true;
            }
        }

        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path}: the metadata store is unavailable, answered 503: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string method, string path, string reason);
}
