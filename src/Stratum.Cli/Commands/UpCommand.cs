using System.CommandLine;
using Microsoft.Extensions.Logging;
using Stratum.Cli.Demo;
using Stratum.Cli.Hosting;
using Stratum.Client;
using Stratum.Server;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum up [--demo] [--data DIR] [--port N]</c>: everything on this machine, embedded defaults.</summary>
public static class UpCommand
{
    public const int DefaultPort = 8470;

    public static Command Create(CliEnvironment environment)
    {
        var demo = new Option<bool>("--demo") { Description = "Also create two projects and run a handful of jobs that show queueing, quotas, failure and preemption" };
        var port = new Option<int>("--port") { Description = "HTTP port on 127.0.0.1 (0 picks a free one and writes it to connection.json)", DefaultValueFactory = _ => DefaultPort };
        var s3Port = new Option<int?>("--s3-port") { Description = "Port of the S3 endpoint over the store's repositories (default: --port plus one, 8471; -1 turns it off)" };
        var command = new Command("up", "Run Stratum on this machine until Ctrl-C (data in ./.stratum unless --data)") { demo, port, s3Port };
        return command.WithAction(environment, run =>
        {
            var withDemo = run.Get(demo);
            var options = new ServerOptions
            {
                DataDirectory = Path.GetFullPath(StratumClient.ResolveDataDirectory(run.DataOption, environment.Variables)),
                ListenAddress = "127.0.0.1",
                Port = run.Get(port),
                S3Port = run.Get(s3Port),

                // The terminal is for the banner and the demo; the server's routine log lines would drown them.
                MinimumLogLevel = LogLevel.Warning,
            };
            if (withDemo)
            {
                // The demo's eval preempts train after a 7 s head start (DemoRunner.TrainHeadStart); the
                // default 5 min cooldown, right for real training, would keep eval waiting for minutes.
                options.PreemptionCooldown = TimeSpan.FromSeconds(5);
            }

            Func<StratumServer, CancellationToken, Task>? whileServing = withDemo
                ? (server, token) => new DemoRunner(server, run.Terminal, environment.Time).RunAsync(token)
                : null;
            return ServerHost.RunAsync(
                options,
                run.Terminal,
                server => ServerHost.PrintStarted(server, run.Terminal, showTry: !withDemo),
                whileServing,
                run.CancellationToken);
        });
    }
}
