using System.Net;
using System.Net.Sockets;
using Npgsql;
using Stratum.Server;

namespace Stratum.Persistence.Postgres.Tests;

/// <summary>
/// A server whose PostgreSQL is not up yet: it waits, says why on /readyz, and starts once the
/// database answers. "Not up yet" is a port nothing listens on; "up" is a TCP relay opened on that port
/// to the test cluster, so the test needs no second PostgreSQL.
/// </summary>
[RequiresPostgres]
public sealed class ServerStartTests
{
    [Fact]
    public async Task StartAsync_PostgresDownAtStart_AnswersNotReadyThenStartsWhenItComesUp()
    {
        var real = new NpgsqlConnectionStringBuilder(await PostgresTestServer.CreateDatabaseAsync());
        var relayPort = PostgresTestServer.UnusedPort();
        var url = PostgresTestServer.ToUrl(new NpgsqlConnectionStringBuilder(real.ConnectionString) { Port = relayPort }.ConnectionString);
        var data = Directory.CreateTempSubdirectory("stratum-pgstart-");
        var options = new ServerOptions
        {
            DataDirectory = data.FullName,
            Database = url,
            Port = PostgresTestServer.UnusedPort(),
            RegisterLocalNode = false,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        };
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.Port}/"), Timeout = TimeSpan.FromSeconds(5) };
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        var starting = StratumServer.StartAsync(options, stop.Token);
        var (status, body) = await PollAsync(http, "readyz", r => r.Status == HttpStatusCode.ServiceUnavailable, stop.Token);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("waiting for PostgreSQL", body, StringComparison.Ordinal);
        Assert.DoesNotContain(real.Password ?? "\0", body, StringComparison.Ordinal);
        Assert.False(starting.IsCompleted);

        using var relay = TcpRelay.Start(relayPort, real.Host!, real.Port);
        await using var server = await starting.WaitAsync(stop.Token);
        (status, _) = await PollAsync(http, "readyz", r => r.Status == HttpStatusCode.OK, stop.Token);
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task StartAsync_PostgresNeverComes_GivesUpAfterTheWaitLimitNamingTheServer()
    {
        var port = PostgresTestServer.UnusedPort();
        var options = new ServerOptions
        {
            DataDirectory = Directory.CreateTempSubdirectory("stratum-pgstart-").FullName,
            Database = $"postgres://stratum:secret-password@127.0.0.1:{port}/stratum",
            Port = 0,
            RegisterLocalNode = false,
            DatabaseWaitLimit = TimeSpan.FromSeconds(2),
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StratumServer.StartAsync(options));

        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("databaseWaitLimit", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-password", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_DatabaseMissing_FailsAtOnceWithoutWaiting()
    {
        var real = new NpgsqlConnectionStringBuilder(await PostgresTestServer.CreateDatabaseAsync()) { Database = "no_such_database_" + Guid.NewGuid().ToString("N") };
        var options = new ServerOptions
        {
            DataDirectory = Directory.CreateTempSubdirectory("stratum-pgstart-").FullName,
            Database = PostgresTestServer.ToUrl(real.ConnectionString),
            Port = 0,
            RegisterLocalNode = false,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        };

        var error = await Assert.ThrowsAnyAsync<Exception>(() => StratumServer.StartAsync(options).WaitAsync(TimeSpan.FromSeconds(20)));

        Assert.IsNotType<TimeoutException>(error);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    private static async Task<(HttpStatusCode Status, string Body)> PollAsync(
        HttpClient http, string path, Func<(HttpStatusCode Status, string Body), bool> until, CancellationToken cancellationToken)
    {
        (HttpStatusCode, string) last = (0, "no answer");
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var response = await http.GetAsync(path, cancellationToken);
                last = (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
                if (until(last))
                {
                    return last;
                }
            }
            catch (HttpRequestException e)
            {
                last = (0, e.Message);
            }

            await Task.Delay(100, cancellationToken);
        }

        return last;
    }

    /// <summary>Forwards every connection on a loopback port to another address, both ways.</summary>
    private sealed class TcpRelay : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();

        private TcpRelay(TcpListener listener) => _listener = listener;

        public static TcpRelay Start(int port, string host, int targetPort)
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            var relay = new TcpRelay(listener);
            _ = relay.AcceptAsync(host, targetPort);
            return relay;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }

        private async Task AcceptAsync(string host, int targetPort)
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = PipeAsync(client, host, targetPort);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // Stopped.
            }
        }

        private async Task PipeAsync(TcpClient client, string host, int targetPort)
        {
            using (client)
            using (var target = new TcpClient())
            {
                try
                {
                    await target.ConnectAsync(host, targetPort, _stop.Token);
                    var a = client.GetStream();
                    var b = target.GetStream();
                    await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
                {
                    // One side closed.
                }
            }
        }
    }
}
