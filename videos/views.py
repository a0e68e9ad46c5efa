from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from billing.selectors import balance_of, price_grid, price_table
from veoproject import refusals
from veoproject.refusals import Refusal

from . import notices, selectors, services
from .forms import BatchForm, ExtendForm, GenerateForm
from .models import Job, JobImage, Notice, NoticePreference, Upgrade, UpgradeKind
from .ranges import ranged_file_response
from .vocabulary import Resolution, VideoModel

# The provider's advice for good prompts: insertable building blocks.
# The phrases stay in English: prompts work best in English.
PROMPT_PHRASES = [
    (
        _("Camera"),
        ["slow dolly in", "aerial drone shot", "handheld tracking shot", "static wide shot", "orbiting close-up"],
    ),
    (
        _("Light"),
        ["golden hour light", "soft overcast light", "neon night lighting", "dramatic backlight", "candlelit"],
    ),
    (
        _("Style"),
        ["cinematic, 35mm film", "photorealistic", "hand-drawn animation", "documentary style", "slow motion"],
    ),
    (_("Sound"), ["ambient city sounds", "gentle piano score", "waves and seagulls", "no music, natural sound"]),
]


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def home(request):
    return redirect("videos:gallery" if request.user.is_authenticated else "login")


@login_required
def gallery(request):
    page = Paginator(selectors.gallery_jobs(request.user), settings.GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    cards = [(job, selectors.progress(job)) for job in page]
    return render(request, "videos/gallery.html", {"page": page, "cards": cards})


@login_required
def job_new(request):
    form = GenerateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.job_create(user=request.user, request=form.video_request())
        except Refusal as refusal:
            if wants_json(request):
                return refusals.as_json(refusal)
            refusals.as_form_error(form, refusal)
        else:
            if wants_json(request):
                return JsonResponse(selectors.status_payload(job), status=201)
            return redirect("videos:detail", pk=job.pk)
    if wants_json(request) and form.errors:
        return JsonResponse({"error": "invalid", "fields": form.errors.get_json_data()}, status=400)
    prices = price_table()
    return render(
        request,
        "videos/new.html",
        {
            "form": form,
            "prices": prices,
            "price_grid": _price_grid(),
            "resolutions": Resolution.choices,
            "balance": balance_of(request.user.pk),
            "typical": settings.VEO_TYPICAL_SECONDS,
            "hint_length": settings.PROMPT_HINT_LENGTH,
            "phrases": PROMPT_PHRASES,
        },
        status=400 if form.errors else 200,
    )


def _price_grid() -> list[tuple[str, str, list]]:
    """(model code, its label, prices per resolution) for the form's table."""
    labels = dict(VideoModel.choices)
    return [(model, labels.get(model, model), cells) for model, cells in price_grid(tuple(Resolution.values))]


@login_required
def job_batch(request):
    """Several prompts with the same settings; each line succeeds or fails
    on its own and is reported."""
    form = BatchForm(request.POST or None)
    settings_form = GenerateForm(request.POST or None)
    results = []
    if request.method == "POST" and form.is_valid():
        for number, prompt, line_form in form.line_forms(request.POST):
            if not line_form.is_valid():
                errors = [e for field_errors in line_form.errors.values() for e in field_errors]
                results.append({"line": number, "prompt": prompt, "job": None, "error": " ".join(errors)})
                continue
            try:
                job = services.job_create(user=request.user, request=line_form.video_request())
            except Refusal as refusal:
                results.append({"line": number, "prompt": prompt, "job": None, "error": refusals.describe(refusal)})
            else:
                results.append({"line": number, "prompt": prompt, "job": job, "error": ""})
    context = {
        "form": form,
        "settings_form": settings_form,
        "results": results,
        "accepted": sum(1 for r in results if r["job"]),
        "balance": balance_of(request.user.pk),
    }
    return render(request, "videos/batch.html", context)


def _job_or_404(request, pk: int) -> Job:
    job = selectors.job_for_viewer(request.user, pk)
    if job is None:
        raise Http404("No such video.")
    return job


@login_required
def job_detail(request, pk: int):
    job = _job_or_404(request, pk)
    refunded = job.status == Job.Status.FAILED and selectors.was_refunded(job)
    return render(
        request,
        "videos/detail.html",
        {
            "job": job,
            "progress": selectors.progress(job),
            "refunded": refunded,
            "images": job.images.all(),
            "hd_price": price_table().get(UpgradeKind.P1080),
            "hd": job.upgrades.filter(kind=UpgradeKind.P1080).first(),
            "uhd_price": price_table().get(UpgradeKind.UHD_4K),
            "uhd": job.upgrades.filter(kind=UpgradeKind.UHD_4K).first(),
            "chain": job.chain(),
            "extensions": job.extensions.filter(user=job.user).order_by("id"),
            "extend_form": ExtendForm(initial={"model": job.model}) if job.user_id == request.user.pk else None,
            "extend_refusal": services.extend_refusal(job) if job.status == Job.Status.SUCCEEDED else "",
        },
    )


@login_required
@require_GET
def job_status(request, pk: int):
    job = _job_or_404(request, pk)
    return JsonResponse(selectors.status_payload(job))


@login_required
@require_GET
def job_file(request, pk: int):
    """The stored video (`?quality=1080p` for the upgrade), owner or staff only."""
    job = _job_or_404(request, pk)
    quality = request.GET.get("quality")
    if quality:
        upgrade = job.upgrades.filter(kind=quality, status=Upgrade.Status.SUCCEEDED).exclude(file="").first()
        if upgrade is None:
            raise Http404("That version is not ready.")
        return ranged_file_response(
            request, upgrade.file, content_type="video/mp4", filename=f"veo-{job.pk}-{upgrade.kind}.mp4"
        )
    if job.status != Job.Status.SUCCEEDED or not job.video_file:
        raise Http404("This video is not ready.")
    return ranged_file_response(request, job.video_file, content_type="video/mp4", filename=f"veo-{job.pk}.mp4")


@login_required
def notice_list(request):
    """The user's notices (seen once shown), and the email opt-in."""
    if request.method == "POST":
        notices.notice_preference_set(user=request.user, email=request.POST.get("email") == "on")
        messages.success(request, _("Your notification settings are saved."))
        return redirect("videos:notices")
    page = Paginator(Notice.objects.filter(user=request.user).select_related("job"), 30).get_page(
        request.GET.get("page")
    )
    rows = [(notice, notice.read_at is None) for notice in page]
    notices.notices_mark_read(request.user)
    email = NoticePreference.objects.filter(user=request.user, email=True).exists()
    return render(request, "videos/notices.html", {"page": page, "rows": rows, "email": email})


@login_required
@require_GET
def job_poster(request, pk: int):
    job = _job_or_404(request, pk)
    if not job.poster:
        raise Http404("No poster.")
    response = FileResponse(job.poster.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_POST
def job_upgrade(request, pk: int):
    job = _job_or_404(request, pk)
    if job.user_id != request.user.pk:
        raise Http404("No such video.")
    quality = request.POST.get("quality") or UpgradeKind.P1080
    try:
        services.upgrade_request(job=job, kind=quality)
    except Refusal as refusal:
        refusals.as_message(request, refusal)
    else:
        if quality == UpgradeKind.UHD_4K:
            messages.success(request, _("4K upgrade started. It usually takes five to ten minutes."))
        else:
            messages.success(request, _("1080p upgrade started. It usually takes one to three minutes."))
    return redirect("videos:detail", pk=job.pk)


@login_required
@require_POST
def job_extend(request, pk: int):
    """A new job that continues this finished video; redirects to it."""
    job = _job_or_404(request, pk)
    if job.user_id != request.user.pk:
        raise Http404("No such video.")
    form = ExtendForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("videos:detail", pk=job.pk)
    try:
        extension = services.job_extend(
            user=request.user,
            parent=job,
            prompt=form.cleaned_data["prompt"],
            model=form.cleaned_data["model"] or job.model,
            seed=form.cleaned_data["seed"],
        )
    except Refusal as refusal:
        refusals.as_message(request, refusal)
        return redirect("videos:detail", pk=job.pk)
    return redirect("videos:detail", pk=extension.pk)


@require_GET
def input_image(request, token: str):
    """Uploaded input images, public at an unguessable URL so the provider can fetch them."""
    image = JobImage.objects.filter(token=token).exclude(file="").order_by().first()
    if image is None:
        raise Http404()
    response = FileResponse(image.file.open("rb"), content_type=image.content_type or "image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
