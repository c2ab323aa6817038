namespace Stratum.Planning.Tests;

public sealed class CatalogTests
{
    [Theory]
    [InlineData("nvidia-a100-40gb")]
    [InlineData("nvidia-a100-80gb")]
    [InlineData("nvidia-h100-sxm")]
    [InlineData("nvidia-h100-pcie")]
    [InlineData("nvidia-h800")]
    [InlineData("nvidia-h200")]
    [InlineData("nvidia-b200")]
    [InlineData("nvidia-l40s")]
    [InlineData("amd-mi300x")]
    [InlineData("google-tpu-v5p")]
    public void Default_RequiredAccelerator_IsPresentWithSourcedFigures(string name)
    {
        var accelerator = Make.Catalog.Find(name, out var error);

        Assert.NotNull(accelerator);
        Assert.Null(error);
        foreach (var (field, figure) in accelerator.Figures())
        {
            Assert.False(string.IsNullOrWhiteSpace(figure.Source), $"{name}.{field} has no source");
            Assert.Matches(@"^\d{4}-\d{2}", figure.Date);
        }
    }

    [Fact]
    public void Default_Fp8Figures_AreDenseNotSparsity()
    {
        // Every vendor doubles BF16 to get dense FP8 and doubles again for sparsity: a ratio of 4 would
        // mean a with-sparsity figure slipped in.
        foreach (var accelerator in Make.Catalog.Accelerators.Values.Where(a => a.Fp8Tflops.HasValue))
        {
            var ratio = accelerator.Fp8Tflops.Required / accelerator.Bf16Tflops.Required;
            Assert.InRange(ratio, 1.9, 2.1);
        }
    }

    [Fact]
    public void Default_EveryOfferAndServer_HasDateSourceAndKnownGpu()
    {
        var catalog = Make.Catalog;
        Assert.NotEmpty(catalog.Offers);
        foreach (var offer in catalog.Offers)
        {
            Assert.True(catalog.Accelerators.ContainsKey(offer.Gpu), $"{offer.Instance} names unknown GPU {offer.Gpu}");
            Assert.True(offer.OnDemand.Value > 0, $"{offer.Instance} has no on-demand price");
            Assert.Matches(@"^\d{4}-\d{2}", offer.OnDemand.Date);
            Assert.False(string.IsNullOrWhiteSpace(offer.OnDemand.Source));
        }

        Assert.All(catalog.Servers.Values, s => Assert.True(catalog.Accelerators.ContainsKey(s.Gpu)));
    }

    [Fact]
    public void Find_UnknownName_ListsKnownNames()
    {
        var accelerator = Make.Catalog.Find("nvidia-h1000", out var error);

        Assert.Null(accelerator);
        Assert.Contains("nvidia-h1000", error);
        Assert.Contains("nvidia-h100-sxm", error);
        Assert.Contains("amd-mi300x", error);
    }

    [Fact]
    public void Load_UserFile_OverridesAndExtends()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """
                {
                  "accelerators": [
                    { "name": "nvidia-h100-sxm", "source": "my bench", "date": "2026-01", "bf16Tflops": 900, "fp8Tflops": 1800, "memoryGb": 80,
                      "memoryTBps": 3.35, "scaleUpGBps": 900, "tdpW": 700, "gpusPerServer": 8, "trainingEfficiency": 0.5 }
                  ],
                  "offers": [
                    { "provider": "mycloud", "instance": "h100x8", "gpu": "nvidia-h100-sxm", "gpus": 8, "source": "quote 42", "date": "2026-01", "onDemand": 16 }
                  ]
                }
                """);

            var catalog = CatalogLoader.Load([file]);

            Assert.Equal(900, catalog.Accelerators["nvidia-h100-sxm"].Bf16Tflops.Value);
            Assert.Equal("my bench", catalog.Accelerators["nvidia-h100-sxm"].Bf16Tflops.Source);
            Assert.Contains(catalog.Offers, o => o.Provider == "mycloud" && o.OnDemand.Source == "quote 42");
            Assert.Equal(Make.Catalog.Accelerators.Count, catalog.Accelerators.Count);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Load_MalformedFigure_ThrowsNamingFile()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{ "accelerators": [ { "name": "x", "bf16Tflops": -1 } ] }""");

            var e = Assert.Throws<CatalogException>(() => CatalogLoader.Load([file]));

            Assert.Contains(file, e.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
