using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Stratum.Server.Alerts;

/// <summary>
/// A small, real subset of PromQL, enough for threshold alerts over Stratum's own metrics:
/// <c>comparison (and comparison)*</c>, where a comparison is <c>vector OP number</c>, a vector is a
/// selector <c>metric{label="v",label!="v",label=~"re",label!~"re"}</c> optionally wrapped in
/// <c>sum|min|max|count(...) [by (label, ...)]</c>, and OP is one of &gt; &lt; &gt;= &lt;= == !=.
/// Semantics follow Prometheus (a comparison filters series; <c>and</c> keeps the left series whose
/// label set also appears on the right; an aggregation over no series is empty), so the same text is
/// valid in an exported Prometheus rule file and fires on the same data.
/// </summary>
public sealed partial class AlertExpression
{
    private static readonly string[] Aggregations = ["sum", "min", "max", "count"];
    private static readonly string[] Operators = [">=", "<=", "==", "!=", ">", "<"];

    private readonly IReadOnlyList<Comparison> _terms;

    private AlertExpression(IReadOnlyList<Comparison> terms, string text)
    {
        _terms = terms;
        Text = text;
    }

    /// <summary>The expression as written (trimmed); valid PromQL.</summary>
    public string Text { get; }

    /// <summary>The metric names the expression reads.</summary>
    public IEnumerable<string> Metrics => _terms.Select(t => t.Vector.Selector.Metric).Distinct(StringComparer.Ordinal);

    /// <summary>Parses <paramref name="text"/>; on failure returns null and says what is wrong and where.</summary>
    public static AlertExpression? TryParse(string text, out string? error)
    {
        try
        {
            var parser = new Parser(Tokenize(text));
            var terms = new List<Comparison> { parser.Comparison() };
            while (parser.TryKeyword("and"))
            {
                terms.Add(parser.Comparison());
            }

            parser.ExpectEnd();
            error = null;
            return new AlertExpression(terms, text.Trim());
        }
        catch (FormatException e)
        {
            error = e.Message;
            return null;
        }
    }

    /// <summary>The series for which the expression holds, each with the left-most vector's value and labels (without the metric name).</summary>
    public IReadOnlyList<MetricSample> Evaluate(IReadOnlyList<MetricSample> samples)
    {
        var result = _terms[0].Evaluate(samples);
        foreach (var term in _terms.Skip(1))
        {
            var right = term.Evaluate(samples).Select(s => Key(s.Labels)).ToHashSet(StringComparer.Ordinal);
            result = [.. result.Where(s => right.Contains(Key(s.Labels)))];
        }

        return result;
    }

    internal static string Key(IEnumerable<KeyValuePair<string, string>> labels) =>
        string.Join("\u0001", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "\u0002" + l.Value));

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
            }
            else if (char.IsAsciiLetter(c) || c is '_' or ':')
            {
                var start = i;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or ':'))
                {
                    i++;
                }

                tokens.Add(new(TokenKind.Identifier, text[start..i], start));
            }
            else if (char.IsAsciiDigit(c) || c is '.' or '-' or '+')
            {
                var start = i;
                i++;
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '.' or '+' or '-') && !(text[i] is '+' or '-' && text[i - 1] is not ('e' or 'E')))
                {
                    i++;
                }

                tokens.Add(new(TokenKind.Number, text[start..i], start));
            }
            else if (c is '"' or '\'')
            {
                var start = i;
                var value = new StringBuilder();
                i++;
                while (i < text.Length && text[i] != c)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }

                    value.Append(text[i]);
                    i++;
                }

                if (i >= text.Length)
                {
                    throw new FormatException($"unterminated string starting at column {start + 1}");
                }

                i++;
                tokens.Add(new(TokenKind.String, value.ToString(), start));
            }
            else
            {
                var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
                if (two is ">=" or "<=" or "==" or "!=" or "=~" or "!~")
                {
                    tokens.Add(new(TokenKind.Symbol, two, i));
                    i += 2;
                }
                else if (c is '{' or '}' or '(' or ')' or ',' or '=' or '>' or '<')
                {
                    tokens.Add(new(TokenKind.Symbol, c.ToString(), i));
                    i++;
                }
                else
                {
                    throw new FormatException($"unexpected '{c}' at column {i + 1}");
                }
            }
        }

        return tokens;
    }

    private enum TokenKind
    {
        Identifier,
        Number,
        String,
        Symbol,
    }

    private sealed record Token(TokenKind Kind, string Text, int Position);

    private sealed record Matcher(string Label, string Operator, string Value, Regex? Pattern)
    {
        public bool Matches(MetricSample sample)
        {
            var actual = sample.Label(Label) ?? "";
            return Operator switch
            {
                "=" => actual == Value,
                "!=" => actual != Value,
                "=~" => Pattern!.IsMatch(actual),
                _ => !Pattern!.IsMatch(actual),
            };
        }
    }

    private sealed record Selector(string Metric, IReadOnlyList<Matcher> Matchers)
    {
        public IEnumerable<MetricSample> Select(IReadOnlyList<MetricSample> samples) =>
            samples.Where(s => s.Name == Metric && Matchers.All(m => m.Matches(s)));
    }

    private sealed record Vector(Selector Selector, string? Aggregation, IReadOnlyList<string> By)
    {
        public IEnumerable<MetricSample> Evaluate(IReadOnlyList<MetricSample> samples)
        {
            var selected = Selector.Select(samples);
            if (Aggregation is null)
            {
                // Prometheus drops the metric name from an alert's labels; do it here once.
                return selected.Select(s => s with { Name = "" });
            }

            return selected
                .GroupBy(s => Key(By.Select(b => new KeyValuePair<string, string>(b, s.Label(b) ?? "")).Where(l => l.Value.Length > 0)), StringComparer.Ordinal)
                .Select(g =>
                {
                    var labels = By.Select(b => new KeyValuePair<string, string>(b, g.First().Label(b) ?? ""))
                        .Where(l => l.Value.Length > 0).OrderBy(l => l.Key, StringComparer.Ordinal).ToList();
                    var values = g.Select(s => s.Value).ToList();
                    var value = Aggregation switch
                    {
                        "sum" => values.Sum(),
                        "min" => values.Min(),
                        "max" => values.Max(),
                        _ => values.Count,
                    };
                    return new MetricSample("", labels, value);
                });
        }
    }

    private sealed record Comparison(Vector Vector, string Operator, double Threshold)
    {
        public IReadOnlyList<MetricSample> Evaluate(IReadOnlyList<MetricSample> samples) =>
            [.. Vector.Evaluate(samples).Where(s => Operator switch
            {
                ">" => s.Value > Threshold,
                "<" => s.Value < Threshold,
                ">=" => s.Value >= Threshold,
                "<=" => s.Value <= Threshold,
                "==" => s.Value == Threshold,
                _ => s.Value != Threshold,
            })];
    }

    private sealed class Parser(List<Token> tokens)
    {
        private int _next;

        public Comparison Comparison()
        {
            var vector = Vector();
            var op = Take();
            if (op.Kind != TokenKind.Symbol || !Operators.Contains(op.Text))
            {
                throw new FormatException($"expected a comparison (> < >= <= == !=) at column {op.Position + 1}, found '{op.Text}'");
            }

            var number = Take();
            if (number.Kind != TokenKind.Number || !double.TryParse(number.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var threshold))
            {
                throw new FormatException($"expected a number after '{op.Text}' at column {number.Position + 1}, found '{number.Text}'");
            }

            return new Comparison(vector, op.Text, threshold);
        }

        public bool TryKeyword(string keyword)
        {
            if (_next < tokens.Count && tokens[_next].Kind == TokenKind.Identifier && tokens[_next].Text == keyword)
            {
                _next++;
                return true;
            }

            return false;
        }

        public void ExpectEnd()
        {
            if (_next < tokens.Count)
            {
                throw new FormatException($"unexpected '{tokens[_next].Text}' at column {tokens[_next].Position + 1}; join comparisons with 'and'");
            }
        }

        private Vector Vector()
        {
            var first = Peek();
            if (first.Kind == TokenKind.Identifier && Aggregations.Contains(first.Text) && _next + 1 < tokens.Count && tokens[_next + 1].Text == "(")
            {
                _next += 2;
                var selector = Selector();
                Expect(")");
                var by = new List<string>();
                if (TryKeyword("by"))
                {
                    Expect("(");
                    while (true)
                    {
                        var label = Take();
                        if (label.Kind != TokenKind.Identifier)
                        {
                            throw new FormatException($"expected a label name in by (...) at column {label.Position + 1}");
                        }

                        by.Add(label.Text);
                        if (Peek().Text == ")")
                        {
                            _next++;
                            break;
                        }

                        Expect(",");
                    }
                }

                return new Vector(selector, first.Text, by);
            }

            return new Vector(Selector(), null, []);
        }

        private Selector Selector()
        {
            var name = Take();
            if (name.Kind != TokenKind.Identifier)
            {
                throw new FormatException($"expected a metric name at column {name.Position + 1}, found '{name.Text}'");
            }

            if (!MetricNamePattern().IsMatch(name.Text))
            {
                throw new FormatException($"'{name.Text}' is not a metric name");
            }

            var matchers = new List<Matcher>();
            if (Peek().Text == "{")
            {
                _next++;
                while (Peek().Text != "}")
                {
                    var label = Take();
                    if (label.Kind != TokenKind.Identifier)
                    {
                        throw new FormatException($"expected a label name at column {label.Position + 1}, found '{label.Text}'");
                    }

                    var op = Take();
                    if (op.Text is not ("=" or "!=" or "=~" or "!~"))
                    {
                        throw new FormatException($"expected = != =~ or !~ after '{label.Text}' at column {op.Position + 1}");
                    }

                    var value = Take();
                    if (value.Kind != TokenKind.String)
                    {
                        throw new FormatException($"expected a quoted value for label '{label.Text}' at column {value.Position + 1}");
                    }

                    Regex? pattern = null;
                    if (op.Text is "=~" or "!~")
                    {
                        try
                        {
                            // Prometheus anchors label regexes at both ends.
                            pattern = new Regex("^(?:" + value.Text + ")$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                        }
                        catch (ArgumentException e)
                        {
                            throw new FormatException($"'{value.Text}' is not a regular expression: {e.Message}");
                        }
                    }

                    matchers.Add(new Matcher(label.Text, op.Text, value.Text, pattern));
                    if (Peek().Text == ",")
                    {
                        _next++;
                    }
                    else if (Peek().Text != "}")
                    {
                        throw new FormatException($"expected ',' or '}}' at column {Peek().Position + 1}");
                    }
                }

                _next++;
            }

            return new Selector(name.Text, matchers);
        }

        private Token Peek() => _next < tokens.Count ? tokens[_next] : new Token(TokenKind.Symbol, "end of expression", tokens.Count == 0 ? 0 : tokens[^1].Position + tokens[^1].Text.Length);

        private Token Take()
        {
            var token = Peek();
            _next++;
            return token;
        }

        private void Expect(string symbol)
        {
            var token = Take();
            if (token.Text != symbol || token.Kind == TokenKind.String)
            {
                throw new FormatException($"expected '{symbol}' at column {token.Position + 1}, found '{token.Text}'");
            }
        }
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricNamePattern();
}
