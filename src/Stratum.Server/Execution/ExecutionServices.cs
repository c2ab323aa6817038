using Stratum.Execution;
using Stratum.Execution.Slurm;

namespace Stratum.Server.Execution;

/// <summary>The executors of a server: the router as THE <see cref="IExecutor"/>, the local executor, one SlurmExecutor per partition on demand, and Slurm node discovery.</summary>
public static class ExecutionServices
{
    /// <summary>Registers them; a <see cref="JobDirectories"/> must already be registered.</summary>
    public static IServiceCollection AddStratumExecution(this IServiceCollection services)
    {
        services.AddSingleton<LocalExecutor>();
        services.AddSingleton<SimulatedExecutor>();
        services.AddSingleton<IJobUsageSource>(provider => provider.GetRequiredService<SimulatedExecutor>());
        services.AddSingleton<Func<SlurmOptions, ISlurmCommands>>(_ => options => new SlurmCommands(options));
        services.AddSingleton(provider =>
        {
            var options = provider.GetRequiredService<ServerOptions>();
            var directories = provider.GetRequiredService<JobDirectories>();
            var commands = provider.GetRequiredService<Func<SlurmOptions, ISlurmCommands>>();
            var loggers = provider.GetRequiredService<ILoggerFactory>();
            return new ExecutorCatalog(spec => spec.Kind switch
            {
                ExecutorSpec.Local => provider.GetRequiredService<LocalExecutor>(),
                ExecutorSpec.Simulated => provider.GetRequiredService<SimulatedExecutor>(),
                ExecutorSpec.Slurm => CreateSlurm(SlurmSettings.OptionsFor(options, spec.Partition), directories, commands, loggers),
                _ => throw new InvalidOperationException($"no executor of kind '{spec.Kind}'"),
            });
        });
        services.AddSingleton<ExecutorRouter>();
        services.AddSingleton<IExecutor>(provider => provider.GetRequiredService<ExecutorRouter>());
        services.AddSingleton<SlurmInventory>();
        services.AddHostedService(provider => provider.GetRequiredService<SlurmInventory>());
        return services;
    }

    private static SlurmExecutor CreateSlurm(SlurmOptions options, JobDirectories directories, Func<SlurmOptions, ISlurmCommands> commands, ILoggerFactory loggers) =>
        new(directories, commands(options), options, loggers.CreateLogger<SlurmExecutor>());
}
