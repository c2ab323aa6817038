using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Channels;

namespace Stratum.Server.Tests;

/// <summary>
/// A real HTTP receiver on a loopback port, standing in for Alertmanager or a chat webhook. It answers
/// with the queued status codes (then 200), or never answers while <see cref="Hang"/> is set, and
/// records every body it accepted.
/// </summary>
public sealed class AlertsWebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Queue<HttpStatusCode> _answers = new();
    private readonly Channel<JsonDocument> _accepted = Channel.CreateUnbounded<JsonDocument>();
    private readonly Task _loop;
    private int _requests;

    public AlertsWebhookReceiver(params HttpStatusCode[] answers)
    {
        foreach (var answer in answers)
        {
            _answers.Enqueue(answer);
        }

        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }

        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>The path carries a secret, as real webhook URLs do; the server must never log it.</summary>
    public Uri Url => new($"http://127.0.0.1:{Port}/hooks/s3cr3t-token?key=hunter2");

    public bool Hang { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The next accepted body, failing after a deadline instead of hanging the test.</summary>
    public async Task<JsonElement> NextAsync() => (await _accepted.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30))).RootElement;

    public bool TryNext(out JsonElement body)
    {
        var found = _accepted.Reader.TryRead(out var document);
        body = found ? document!.RootElement : default;
        return found;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or TimeoutException)
        {
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            Interlocked.Increment(ref _requests);
            if (Hang)
            {
                // Never answer: the sender's own timeout must end the attempt.
                continue;
            }

            HttpStatusCode status;
            lock (_answers)
            {
                status = _answers.Count > 0 ? _answers.Dequeue() : HttpStatusCode.OK;
            }

            if (status == HttpStatusCode.OK)
            {
                _accepted.Writer.TryWrite(await JsonDocument.ParseAsync(context.Request.InputStream));
            }

            context.Response.StatusCode = (int)status;
            context.Response.Close();
        }
    }
}
