using Stratum.Server.Store.S3;

namespace Stratum.Server;

public sealed partial class StratumServer
{
    /// <summary>Where the S3 endpoint listens (bucket = repository); null when it is turned off (<see cref="ServerOptions.S3Port"/> -1).</summary>
    public Uri? S3Address => Services.GetService<S3EndpointService>()?.BaseAddress;
}
