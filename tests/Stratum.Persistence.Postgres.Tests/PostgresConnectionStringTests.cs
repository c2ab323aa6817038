using Npgsql;

namespace Stratum.Persistence.Postgres.Tests;

public sealed class PostgresConnectionStringTests
{
    [Fact]
    public void Normalize_FullUrl_MapsEveryPart()
    {
        var normalized = PostgresConnectionString.Normalize(
            "postgres://stratum:s%40cr%3At@db.example.org:6543/meta%20data?sslmode=verify-full&application_name=stratum-1&connect_timeout=7&command_timeout=40&pool_max=12");

        var builder = new NpgsqlConnectionStringBuilder(normalized);
        Assert.Equal("db.example.org", builder.Host);
        Assert.Equal(6543, builder.Port);
        Assert.Equal("meta data", builder.Database);
        Assert.Equal("stratum", builder.Username);
        Assert.Equal("s@cr:t", builder.Password);
        Assert.Equal(SslMode.VerifyFull, builder.SslMode);
        Assert.Equal("stratum-1", builder.ApplicationName);
        Assert.Equal(7, builder.Timeout);
        Assert.Equal(40, builder.CommandTimeout);
        Assert.Equal(12, builder.MaxPoolSize);
    }

    [Theory]
    [InlineData("postgresql://alice@localhost/stratum", "localhost", 5432, "alice")]
    [InlineData("POSTGRES://[::1]:5433/stratum", "::1", 5433, null)]
    public void Normalize_ShortUrls_UseDefaults(string url, string host, int port, string? user)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize(url));

        Assert.Equal(host, builder.Host);
        Assert.Equal(port, builder.Port);
        Assert.Equal("stratum", builder.Database);
        Assert.Equal(user, builder.Username);
        Assert.Null(builder.Password);
    }

    [Fact]
    public void Normalize_NpgsqlKeywords_PassThrough()
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresConnectionString.Normalize("Host=10.0.0.5;Port=6000;Database=meta;Username=u;Password=p"));

        Assert.Equal(("10.0.0.5", 6000, "meta", "u", "p"), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
    }

    [Theory]
    [InlineData("postgres://alice@localhost:5432/", "no database")]
    [InlineData("postgres://alice:pw@localhost/db?sslmod=require", "Unknown parameter 'sslmod'")]
    [InlineData("postgres://localhost/db?sslmode=always", "sslmode 'always'")]
    [InlineData("postgres://localhost/db?connect_timeout=soon", "connect_timeout=soon")]
    [InlineData("postgres://localhost:notaport/db", "not a valid postgres:// URL")]
    [InlineData("Database=meta", "no host")]
    [InlineData("Hots=localhost;Database=meta", "neither a postgres:// URL nor a valid Npgsql connection string")]
    public void Normalize_BadInput_ThrowsNamingTheProblem(string value, string expected)
    {
        var exception = Assert.Throws<ArgumentException>(() => PostgresConnectionString.Normalize(value));

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Normalize_BadUrlWithPassword_KeepsThePasswordOutOfTheMessage()
    {
        var exception = Assert.Throws<ArgumentException>(() => PostgresConnectionString.Normalize("postgres://alice:hunter2@localhost/db?bogus=1"));

        Assert.DoesNotContain("hunter2", exception.Message, StringComparison.Ordinal);
        Assert.Contains("alice:***@localhost", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Redact_WithPassword_HidesIt()
    {
        var redacted = PostgresConnectionString.Redact("Host=h;Database=d;Username=u;Password=hunter2");

        Assert.DoesNotContain("hunter2", redacted, StringComparison.Ordinal);
        Assert.Contains("Host=h", redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void Where_Url_NamesUserHostPortAndDatabaseButNotThePassword()
    {
        var where = PostgresConnectionString.Where("postgres://ops:hunter2@db.example:6432/stratum");

        Assert.Equal("ops@db.example:6432/stratum", where);
    }
}
