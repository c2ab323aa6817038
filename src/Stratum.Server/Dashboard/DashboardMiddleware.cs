using System.Collections.Frozen;
using System.Security.Cryptography;

namespace Stratum.Server.Dashboard;

/// <summary>
/// Serves the dashboard: <c>/</c> and <c>/ui/...</c> return the single page, <c>/ui/assets/NAME</c> its
/// script and style sheet. The files are embedded in this assembly (Dashboard/assets), so the program
/// needs no content directory and no build step beyond dotnet build. They hold no data and are public;
/// the page asks for a token and calls the REST API with it. It runs before authentication for that
/// reason, and answers only its own paths.
/// </summary>
public sealed class DashboardMiddleware(RequestDelegate next)
{
    private const string Prefix = "Stratum.Server.Dashboard.";

    // The page loads only its own script and style; no inline code, no third-party origins.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            await next(context);
            return;
        }

        Asset? asset = null;
        if (path.StartsWith("/ui/assets/", StringComparison.Ordinal))
        {
            asset = Assets.GetValueOrDefault(path["/ui/assets/".Length..]);
            if (asset is null)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
        }
        else if (path is "/" or "/ui" || path.StartsWith("/ui/", StringComparison.Ordinal))
        {
            asset = Assets["index.html"];
        }

        if (asset is null)
        {
            await next(context);
            return;
        }

        var headers = context.Response.Headers;
        headers.ContentType = asset.ContentType;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers["Referrer-Policy"] = "no-referrer";
        if (context.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        context.Response.ContentLength = asset.Content.Length;
        if (HttpMethods.IsGet(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(asset.Content, context.RequestAborted);
        }
    }

    /// <summary>The embedded files, by name.</summary>
    public static IReadOnlyCollection<string> Names => Assets.Keys;

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardMiddleware).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..];
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            var content = memory.ToArray();
            var type = Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[name] = new Asset(content, type, "\"" + Convert.ToHexStringLower(SHA256.HashData(content))[..16] + "\"");
        }

        if (!assets.ContainsKey("index.html"))
        {
            throw new InvalidOperationException("The dashboard's index.html is not embedded in " + assembly.GetName().Name + "; check the EmbeddedResource item in Stratum.Server.csproj.");
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}
