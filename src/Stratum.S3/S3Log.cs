using Microsoft.Extensions.Logging;

namespace Stratum.S3;

/// <summary>The endpoint's log lines. Never a secret, signature or Authorization header: only who and what.</summary>
internal static partial class S3Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "S3 {Method} {Operation} bucket={Bucket} by {Principal}: {Status} ({RequestId})")]
    public static partial void Request(ILogger logger, string method, string operation, string? bucket, string? principal, int status, string requestId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "S3 request {RequestId} refused: {Code} {Message}")]
    public static partial void Refused(ILogger logger, string requestId, string code, string message);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "S3 request {RequestId} failed")]
    public static partial void Failed(ILogger logger, Exception exception, string requestId);
}
