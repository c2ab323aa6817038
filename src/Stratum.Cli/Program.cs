using Stratum.Cli;

return await StratumCommandLine.RunAsync(args, CliEnvironment.FromConsole());
