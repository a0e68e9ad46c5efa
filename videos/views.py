from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from billing.selectors import balance_of, price_grid, price_table
from veoproject import refusals
from veoproject.refusals import Refusal

from . import costs, live, notices, selectors, services, stash, storage, versions
from .exceptions import NotDeletable
from .forms import IMAGE_LIMITS, MODEL_CHOICES, BatchForm, ExtendForm, GenerateForm
from .models import Job, JobImage, Notice, NoticePreference, Upgrade, UpgradeKind
from .vocabulary import REQUEST_FIELDS, Resolution, VideoModel

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


GALLERY_STATUSES = {
    "running": Job.ACTIVE,
    "succeeded": (Job.Status.SUCCEEDED,),
    "failed": (Job.Status.FAILED,),
}


@login_required
def gallery(request):
    """The library: newest first, filtered by status and model, searched by
    prompt; the filters stay in the page links."""
    status = request.GET.get("status", "")
    model = request.GET.get("model", "")
    query = request.GET.get("q", "").strip()[:200]
    jobs = selectors.gallery_jobs(
        request.user,
        statuses=GALLERY_STATUSES.get(status),
        model=model if model in dict(MODEL_CHOICES) else "",
        query=query,
    )
    page = Paginator(jobs, settings.GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    cards = [(job, selectors.progress(job)) for job in page]
    filters = request.GET.copy()
    filters.pop("page", None)
    context = {
        "page": page,
        "cards": cards,
        "status": status,
        "model": model,
        "query": query,
        "models": MODEL_CHOICES,
        "filtered": bool(status or model or query),
        "filter_query": filters.urlencode(),
    }
    return render(request, "videos/gallery.html", context)


def _live_fragment(request, template: str, context: dict) -> HttpResponse:
    """A live region's fragment, with the header's notice badge and credits
    swapped in beside it (out of band) so they change when the job does."""
    html = render_to_string(template, context, request=request)
    html += render_to_string("_header_counts.html", {"oob": True}, request=request)
    return HttpResponse(html)


@login_required
@require_GET
def job_card(request, pk: int):
    """One gallery card, as the gallery draws it (htmx polls it while running)."""
    job = _job_or_404(request, pk)
    return _live_fragment(request, "videos/_card.html", {"job": job, "progress": selectors.progress(job)})


def _form_context(request, form) -> dict:
    table = costs.cost_table()
    model = form["model"].value() or "veo3_fast"
    return {
        "form": form,
        "prices": price_table(),
        "cost_table": table,
        "cost": costs.cost_of(table, model=model, resolution=form["resolution"].value() or ""),
        "price_grid": _price_grid(),
        "resolutions": Resolution.choices,
        "image_limits": IMAGE_LIMITS,
        "balance": balance_of(request.user.pk),
        "typical": settings.VEO_TYPICAL_SECONDS,
        "hint_length": settings.PROMPT_HINT_LENGTH,
        "phrases": PROMPT_PHRASES,
    }


def _initial_from(request) -> dict:
    """ "Use this prompt again": the form filled from one of the user's videos."""
    source = request.GET.get("from", "")
    job = selectors.job_for_viewer(request.user, int(source)) if source.isdigit() and len(source) < 18 else None
    if job is None or job.user_id != request.user.pk:
        return {}
    return {field: getattr(job, field) for field in REQUEST_FIELDS}


@login_required
def job_new(request):
    if request.method == "POST":
        form = GenerateForm(request.POST, request.FILES, session=request.session)
    else:
        form = GenerateForm(initial=_initial_from(request), session=request.session)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.job_create(user=request.user, request=form.video_request())
        except Refusal as refusal:
            if wants_json(request):
                return refusals.as_json(refusal)
            refusals.as_form_error(form, refusal)
        else:
            stash.stash_clear(request.session, form.kept_tokens())
            if wants_json(request):
                return JsonResponse(selectors.status_payload(job), status=201)
            return redirect("videos:detail", pk=job.pk)
    if wants_json(request) and form.errors:
        return JsonResponse({"error": "invalid", "fields": form.errors.get_json_data()}, status=400)
    if form.errors:
        form.keep_uploads()
    return render(request, "videos/new.html", _form_context(request, form), status=400 if form.errors else 200)


@login_required
@require_GET
def kept_upload(request, token: str):
    """A kept upload's preview, for the session that uploaded it only."""
    entry = stash.stash_get(request.session, token)
    upload = stash.stash_open(request.session, token) if entry else None
    if upload is None:
        raise Http404()
    response = HttpResponse(upload.read(), content_type=entry["content_type"])
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _price_grid() -> list[tuple[str, str, list]]:
    """(model code, its label, prices per resolution) for the form's table."""
    labels = dict(VideoModel.choices)
    return [(model, labels.get(model, model), cells) for model, cells in price_grid(tuple(Resolution.values))]


@login_required
def job_batch(request):
    """Several prompts with the same settings. Every line is checked, and
    the total against the balance, before any is started: a batch starts
    whole or not at all (a limit met half-way is still reported per line)."""
    form = BatchForm(request.POST or None)
    settings_form = GenerateForm(request.POST or None)
    results = []
    short_of_credits = False
    table = costs.cost_table()
    if request.method == "POST" and form.is_valid():
        lines = form.line_forms(request.POST)
        bad = {number: line_form for number, _, line_form in lines if not line_form.is_valid()}
        total = costs.cost_of(
            table,
            model=settings_form["model"].value() or "",
            resolution=settings_form["resolution"].value() or "",
            count=len(lines),
        )
        balance = balance_of(request.user.pk)
        if bad:
            for number, prompt, line_form in lines:
                errors = (
                    [e for field_errors in line_form.errors.values() for e in field_errors] if number in bad else []
                )
                results.append({"line": number, "prompt": prompt, "job": None, "error": " ".join(errors)})
            form.add_error(None, _("Nothing was started: fix the lines marked below first."))
        elif total > balance:
            short_of_credits = True
            form.add_error(
                None,
                _("These %(count)s videos cost %(total)s credits and you have %(balance)s. Nothing was started.")
                % {"count": len(lines), "total": total, "balance": balance},
            )
        else:
            for number, prompt, line_form in lines:
                try:
                    job = services.job_create(user=request.user, request=line_form.video_request())
                except Refusal as refusal:
                    short_of_credits = short_of_credits or refusal.code == "insufficient_credits"
                    results.append({"line": number, "prompt": prompt, "job": None, "error": refusals.describe(refusal)})
                else:
                    results.append({"line": number, "prompt": prompt, "job": job, "error": ""})
    lines = len(getattr(form, "cleaned_data", {}).get("prompts") or [])
    context = {
        "form": form,
        "settings_form": settings_form,
        "results": results,
        "accepted": sum(1 for r in results if r["job"]),
        "balance": balance_of(request.user.pk),
        "short_of_credits": short_of_credits,
        "cost_table": table,
        "cost": costs.cost_of(
            table,
            model=settings_form["model"].value() or "veo3_fast",
            resolution=settings_form["resolution"].value() or "",
            count=lines,
        ),
    }
    return render(request, "videos/batch.html", context)


def _job_or_404(request, pk: int) -> Job:
    job = selectors.job_for_viewer(request.user, pk)
    if job is None:
        raise Http404("No such video.")
    return job


LIVE_REGIONS = {"job-media": "videos/_job_media.html", "job-state": "videos/_job_state.html"}


@login_required
def job_detail(request, pk: int):
    """One job. Its live regions poll this URL with htmx and get back the
    same fragment a reload draws."""
    job = _job_or_404(request, pk)
    refunded = job.status == Job.Status.FAILED and selectors.was_refunded(job)
    context = {
        "job": job,
        "progress": selectors.progress(job),
        "refunded": refunded,
        "images": job.images.all(),
        "hd_price": price_table().get(UpgradeKind.P1080),
        # The chain of derived versions, oldest first (failed rounds included).
        "upgrades": list(job.upgrades.order_by("id")),
        "uhd_price": price_table().get(UpgradeKind.UHD_4K),
        "chain": job.chain(),
        "extensions": job.extensions.filter(user=job.user).order_by("id"),
        "extend_form": ExtendForm(initial={"model": job.model}) if job.user_id == request.user.pk else None,
        "extend_refusal": services.extend_refusal(job) if job.status == Job.Status.SUCCEEDED else "",
    }
    context["upgrading"] = any(u.status == Upgrade.Status.PENDING for u in context["upgrades"])
    if request.htmx and request.htmx.target in LIVE_REGIONS:
        response = _live_fragment(request, LIVE_REGIONS[request.htmx.target], context)
    else:
        response = render(request, "videos/detail.html", context)
    # One URL, two answers: caches (and the back button) must keep them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _own_job_or_404(request, pk: int) -> Job:
    """Writes are the owner's alone, staff included."""
    job = selectors.job_for_viewer(request.user, pk)
    if job is None or job.user_id != request.user.pk:
        raise Http404("No such video.")
    return job


@login_required
@require_POST
def job_delete(request, pk: int):
    job = _own_job_or_404(request, pk)
    try:
        services.job_delete(job=job)
    except NotDeletable as refusal:
        refusals.as_message(request, refusal)
        return redirect("videos:detail", pk=job.pk)
    messages.success(request, _("The video was deleted."))
    return redirect("videos:gallery")


@login_required
@require_POST
def job_share(request, pk: int):
    job = _own_job_or_404(request, pk)
    if services.job_share_toggle(job=job):
        messages.success(request, _("Anyone with the link can now watch this video."))
    elif job.status == Job.Status.SUCCEEDED:
        messages.success(request, _("The public link is off. It no longer opens the video."))
    else:
        messages.error(request, _("Only finished videos can be shared."))
    return redirect("videos:detail", pk=job.pk)


def _shared_job_or_404(token: str) -> Job:
    job = Job.objects.filter(share_token=token, deleted_at__isnull=True, status=Job.Status.SUCCEEDED).first()
    if job is None or not token:
        raise Http404()
    return job


@require_GET
def shared(request, token: str):
    """The public page of a shared video, with preview tags for chat apps."""
    job = _shared_job_or_404(token)
    return render(request, "videos/shared.html", {"job": job, "token": token})


@require_GET
def shared_file(request, token: str):
    job = _shared_job_or_404(token)
    if not job.video_file:
        raise Http404()
    return storage.serve(request, job.video_file.name, content_type="video/mp4", filename=f"veo-{job.pk}.mp4")


@require_GET
def shared_poster(request, token: str):
    job = _shared_job_or_404(token)
    if not job.poster:
        raise Http404()
    return storage.serve(request, job.poster.name, content_type="image/jpeg", filename=f"veo-{job.pk}.jpg")


@require_GET
def job_status(request, pk: int):
    """Polled by every open job page: from the cache when it can be (see
    videos/live.py), else from the database; 304 when nothing changed."""
    return live.from_cache(request, pk) or _job_status_read(request, pk)


@login_required
def _job_status_read(request, pk: int):
    token = versions.current(pk) if versions.enabled() else None  # before the read
    job = _job_or_404(request, pk)
    live.remember(job, token, request.user)
    return live.respond(request, selectors.status_payload(job))


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
        return storage.serve(
            request, upgrade.file.name, content_type="video/mp4", filename=f"veo-{job.pk}-{upgrade.kind}.mp4"
        )
    if job.status != Job.Status.SUCCEEDED or not job.video_file:
        raise Http404("This video is not ready.")
    return storage.serve(request, job.video_file.name, content_type="video/mp4", filename=f"veo-{job.pk}.mp4")


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
    return storage.serve(request, job.poster.name, content_type="image/jpeg", filename=f"veo-{job.pk}.jpg")


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
    return storage.serve(
        request, image.file.name, content_type=image.content_type or "image/jpeg", filename=f"input-{image.position}"
    )
