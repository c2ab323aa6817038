using System.Globalization;
using Stratum.Telemetry.Benchmarks;

// Telemetry overhead, two scenarios written to one file (bench/results/telemetry-overhead.json):
//   dotnet run -c Release --project bench/Stratum.Telemetry.Benchmarks -- [--jobs 100] [--window 30]
//       100 real sleeping processes on an in-process server, sampler off / every 10 s / every 1 s
//   dotnet run -c Release --project bench/Stratum.Telemetry.Benchmarks -- --simulated-jobs 1000 [--window 20] [--windows 5]
//       1,000 jobs on the simulated executor, two server processes side by side (sampler off, every 10 s)
if (args.Contains(SimulatedServer.ServeFlag))
{
    return await SimulatedServer.ServeAsync(args);
}

string scenario;
object result;
if (Option("--simulated-jobs", 0) is var simulated and > 0)
{
    scenario = ResultFile.SimulatedJobs;
    result = await SimulatedJobs.RunAsync(simulated, Option("--window", 20), Option("--windows", 5));
}
else
{
    scenario = ResultFile.RealProcesses;
    result = await RealProcesses.RunAsync(Option("--jobs", 100), Option("--window", 30));
}

var path = ResultFile.Write(scenario, result);
Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, ResultFile.Options));
Console.WriteLine($"written to {path} ({scenario})");
return 0;

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}
