using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Stratum.Cli;

/// <summary>
/// Where a command writes. With <c>--output json</c> stdout carries exactly one JSON document and
/// everything for people goes to stderr; with text, results go to stdout and hints to stderr.
/// </summary>
public sealed class Terminal
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,

        // Output for terminals and scripts, never embedded in HTML: a secret such as "a+b/c" must read as
        // itself when a person copies it, not as "a\u002Bb/c".
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly CliEnvironment _environment;

    public Terminal(CliEnvironment environment, bool json)
    {
        _environment = environment;
        IsJson = json;
        Out = CreateConsole(environment.Out, environment.OutIsTerminal);
        Error = CreateConsole(environment.Error, environment.ErrorIsTerminal);
    }

    public bool IsJson { get; }

    /// <summary>Stdout, for text results; unused with JSON.</summary>
    public IAnsiConsole Out { get; }

    public IAnsiConsole Error { get; }

    public bool IsInteractive => _environment.OutIsTerminal && !IsJson;

    public string InvokedAs => _environment.InvokedAs;

    public void WriteJson<T>(T value)
    {
        _environment.Out.WriteLine(JsonSerializer.Serialize(value, Json));
        _environment.Out.Flush();
    }

    /// <summary>A result for people: stdout with text output, stderr with JSON so stdout stays parseable.</summary>
    public void Result(string markup) => (IsJson ? Error : Out).MarkupLine(markup);

    /// <summary>A renderable result (a table) for people, routed like <see cref="Result(string)"/>.</summary>
    public void Result(IRenderable renderable) => (IsJson ? Error : Out).Write(renderable);

    /// <summary>A hint or progress line: always stderr.</summary>
    public void Note(string text) => Error.MarkupLine("[grey]" + Markup.Escape(text) + "[/]");

    /// <summary>The one line a failed command prints.</summary>
    public void Fail(string message) =>
        Error.MarkupLine("[red]error:[/] " + Markup.Escape(message.ReplaceLineEndings(" ").Trim()));

    /// <summary>Writes plain text to stdout as is (logs), never through markup.</summary>
    public void Raw(string line)
    {
        _environment.Out.WriteLine(line);
    }

    public void FlushRaw() => _environment.Out.Flush();

    private static IAnsiConsole CreateConsole(TextWriter writer, bool terminal)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });

        if (!terminal)
        {
            // Without a terminal Spectre assumes 80 columns and wraps table cells; files and pipes have no width.
            console.Profile.Width = 250;
        }

        return console;
    }
}
