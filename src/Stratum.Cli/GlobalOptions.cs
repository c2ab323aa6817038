using System.CommandLine;

namespace Stratum.Cli;

/// <summary>Options every command accepts.</summary>
public static class GlobalOptions
{
    public static Option<string> Output { get; } = CreateOutput();

    public static Option<string?> Data { get; } = new("--data")
    {
        Description = "The data directory of a local 'stratum up' (default: STRATUM_DATA, else ./.stratum)",
        Recursive = true,
        HelpName = "DIR",
    };

    private static Option<string> CreateOutput()
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = "text for people, json for scripts (JSON on stdout, everything else on stderr); csv for 'usage'",
            DefaultValueFactory = _ => "text",
            Recursive = true,
            HelpName = "text|json|csv",
        };
        option.AcceptOnlyFromAmong("text", "json", "csv");
        return option;
    }
}
