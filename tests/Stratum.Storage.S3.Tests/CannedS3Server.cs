using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Stratum.Storage.S3.Tests;

/// <summary>
/// A loopback HTTP server that answers every request with one fixed S3 error, for the errors s3rver cannot
/// produce (it does not verify SigV4 signatures, so it never says SignatureDoesNotMatch).
/// </summary>
internal sealed class CannedS3Server : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly byte[] _response;
    private readonly Task _loop;

    public CannedS3Server(int status, string reason, string code, string message)
    {
        var body = $"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>canned</RequestId></Error>";
        _response = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}");
        _listener.Start();
        _loop = AcceptAsync();
    }

    public string Endpoint => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var stream = client.GetStream();

            // Read the request head (and whatever body arrives with it); the answer does not depend on it.
            var buffer = new byte[64 * 1024];
            var seen = new StringBuilder();
            while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            await stream.WriteAsync(_response, _stop.Token);
            client.Client.Shutdown(SocketShutdown.Send);
        }
    }
}
